"""The CCT's layer names have one home outside `models/`: the `cct` adapter
(`keras_snp/sites/cct.py`). `pruning/` asks it, and neither spells those
names nor imports the CCT's modules (see docs/ARCHITECTURE.md)."""

import ast
import os
import re
import tempfile
import unittest

from keras_snp.models import _EXPORTS as MODEL_EXPORTS
from tests.architecture_test import ROOT
from tests.architecture_test import imports_of

PRUNING = os.path.join(ROOT, "pruning")
# The modules of models/ that hold the CCT itself (`flops` counts any model).
CCT_MODULES = ("cct", "layers", "attention")
# A CCT layer name, or a piece of one, in a string constant (docstrings
# included). Prose may say "the classifier"; only the quoted layer name is
# the CCT's.
CCT_NAME = re.compile(
    r"encoder_(\{|\d|$)|sequence_pool|ff_hidden|ff_out|attn_add|_attn_proj"
    r"|_mha\b|\bqkv\b|pre_norm|[\"'`]classifier[\"'`]|^classifier$"
)


def pruning_modules():
    for name in sorted(os.listdir(PRUNING)):
        if name.endswith(".py"):
            yield os.path.join(PRUNING, name)


def cct_imports(path):
    """The imports in `path` of the CCT's modules of `models/`, directly
    or through a name `keras_snp.models` re-exports from them."""
    found = []
    for target, _ in imports_of(path):
        parts = target.split(".")
        if parts[:2] != ["keras_snp", "models"] or len(parts) < 3:
            continue
        module = MODEL_EXPORTS.get(parts[2], parts[2])
        if module in CCT_MODULES:
            found.append(target)
    return found


def cct_literals(path):
    """`(line, text)` of each string constant in `path` that spells a CCT
    layer name, f-string pieces and docstrings included."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for line in node.value.splitlines() or [node.value]:
                if CCT_NAME.search(line.strip()):
                    found.append((node.lineno, line.strip()))
    return found


class CCTNamesTest(unittest.TestCase):
    def test_pruning_imports_no_cct_module(self):
        wrong = {}
        for path in pruning_modules():
            if cct_imports(path):
                wrong[os.path.basename(path)] = cct_imports(path)
        self.assertEqual(wrong, {})

    def test_pruning_spells_no_cct_layer_name(self):
        wrong = {}
        for path in pruning_modules():
            if cct_literals(path):
                wrong[os.path.basename(path)] = cct_literals(path)
        self.assertEqual(wrong, {})

    def test_checkers_catch_a_cct_name_and_import(self):
        source = (
            '"""Reads `sequence_pool`; the classifier is generic."""\n'
            "def f(model, l):\n"
            "    from keras_snp.models import num_encoders\n"
            "    from keras_snp.models.flops import count_flops\n"
            '    return model.get_layer(f"encoder_{l}_ff_out"), "classifier"\n'
        )
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(source)
        try:
            self.assertEqual(
                cct_imports(f.name), ["keras_snp.models.num_encoders"]
            )
            self.assertEqual(
                [line for line, _ in cct_literals(f.name)], [1, 5, 5, 5]
            )
        finally:
            os.remove(f.name)

    def test_adapter_scopes_are_the_pruning_scopes(self):
        from keras_snp.pruning.scopes import LAYER_SCOPES
        from keras_snp.sites.cct import CCT_SCOPES

        self.assertEqual(CCT_SCOPES, LAYER_SCOPES)
