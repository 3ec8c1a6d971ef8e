"""The packages of keras_snp import in one direction only (see
docs/ARCHITECTURE.md), and no two modules import each other in a cycle."""

import ast
import os
import unittest

ROOT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "keras_snp")

# Left to right; a package may import only from its own rank or lower.
RANKS = {
    "utils": 0,
    "constants": 0,
    "settings": 0,
    "models": 1,
    "data": 1,
    "training": 2,
    "sites": 3,
    "snp": 4,
    "heads": 5,
    "pruning": 6,
    "pages": 7,
    "run": 8,
    "reproduce": 9,
    "cli": 10,
}
# Sibling packages of one rank that must not know each other.
STRANGERS = {("models", "data"), ("data", "models")}


def module_name(path):
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3]
    parts = rel.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path):
    """`(imported module, is_top_level)` of every keras_snp import in
    `path`, lazy (function-level) imports included."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            names += [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] == "keras_snp":
                found.append((name, id(node) in top))
    return found


def package_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def all_modules():
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield module_name(path), path


class ArchitectureTest(unittest.TestCase):
    def test_every_package_has_a_rank(self):
        packages = {package_of(m) for m, _ in all_modules()} - {None}
        self.assertEqual(packages - set(RANKS), set())

    def test_imports_point_left(self):
        wrong = []
        for module, path in all_modules():
            source = package_of(module)
            if source is None:  # keras_snp/__init__.py: the public API
                continue
            for target, _ in imports_of(path):
                dest = package_of(target)
                if dest is None or dest == source or dest not in RANKS:
                    continue
                if RANKS[dest] > RANKS[source] or (source, dest) in STRANGERS:
                    wrong.append(f"{module} imports {target}")
        self.assertEqual(wrong, [])

    def test_no_import_cycle(self):
        modules = dict(all_modules())
        graph = {}
        for module, path in modules.items():
            targets = {t for t, _ in imports_of(path)}
            # `from pkg import submodule` depends on the submodule only.
            graph[module] = {
                t
                for t in targets
                if t in modules
                and t != module
                and not any(
                    o.startswith(t + ".") and o in modules for o in targets
                )
            }
        state = {}

        def visit(node, stack):
            state[node] = "open"
            for nxt in graph[node]:
                if state.get(nxt) == "open":
                    cycle = stack[stack.index(nxt) :] + [nxt]
                    self.fail("import cycle: " + " -> ".join(cycle))
                if nxt not in state:
                    visit(nxt, stack + [nxt])
            state[node] = "done"

        for module in sorted(graph):
            if module not in state:
                visit(module, [module])

    def test_checker_catches_a_reverse_import(self):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write("def f():\n    from keras_snp.run import pipeline\n")
        try:
            self.assertEqual(
                imports_of(f.name),
                [("keras_snp.run", False), ("keras_snp.run.pipeline", False)],
            )
        finally:
            os.remove(f.name)
