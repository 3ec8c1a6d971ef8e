"""`import keras_snp` registers the package's Keras serializables, as
`import keras_hub` does, with no import hook: saved models load in safe
mode whichever of `keras` and `keras_snp` is imported first. The command
line's entry (`keras_snp_entry`) defers the registration, so it imports no
Keras until a command runs. Each case runs in a fresh interpreter."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
PACKAGE = os.path.join(ROOT, "keras_snp")


def _python(code, **env):
    full_env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    full_env.pop("KERAS_SNP_DEFER_REGISTRATION", None)
    full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_registers_and_installs_no_import_hook():
    out = _python("""
        import sys
        import keras_snp
        hooks = [type(f).__module__ for f in sys.meta_path
                 if type(f).__module__.split(".")[0] == "keras_snp"]
        registered = "keras_snp.pruning.wrapper" in sys.modules
        import keras
        name = keras.saving.get_registered_name(keras_snp.ANDCPrune)
        found = keras.saving.get_registered_object("keras_snp>PerHeadAttention")
        print(hooks, registered, name, found.__name__)
    """)
    assert out.split() == [
        "[]",
        "True",
        "keras_snp>ANDCPrune",
        "PerHeadAttention",
    ]


def test_entry_imports_no_keras_and_leaves_the_environment():
    out = _python("""
        import os, sys
        import keras_snp_entry
        keras_snp_entry.main(["--version"])
        import keras_snp.cli.train, keras_snp.run.resolve
        from keras_snp.models import VARIANTS, min_image_size
        from keras_snp.data import check_source, defaults_for
        check_source("synthetic")
        print(sorted(m for m in ("keras", "tensorflow", "jax")
                     if m in sys.modules),
              os.environ.get("KERAS_SNP_DEFER_REGISTRATION"))
    """)
    assert out.split() == ["keras-snp", "0.1.0", "[]", "None"]


def test_deferred_import_registers_when_asked():
    out = _python(
        """
        import sys
        import keras_snp
        print("keras" in sys.modules)
        keras_snp.register_serializables()
        import keras
        print(keras.saving.get_registered_object("keras_snp>ANDCPrune").__name__)
        """,
        KERAS_SNP_DEFER_REGISTRATION="1",
    )
    assert out.split()[0] == "False"
    assert out.split()[1] == "ANDCPrune"


def test_every_registering_module_is_listed():
    import keras_snp

    found = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            path = os.path.join(folder, name)
            if (
                name.endswith(".py")
                and "register_keras_serializable"
                in open(path, encoding="utf-8").read()
            ):
                rel = os.path.relpath(path[:-3], os.path.dirname(PACKAGE))
                found.add(rel.replace(os.sep, "."))
    assert found - {"keras_snp.models.layers"} <= set(keras_snp.REGISTERING)
    assert "keras_snp.models.layers" in keras_snp.REGISTERING


SAVE = """
    import keras, keras_snp
    from keras_snp.models import build_cct
    from keras_snp.pruning import ANDCPrune
    model = build_cct("cct_2_3x2", num_classes=3, image_size=16,
                      num_layers=1, embed_dim=16, num_convs=1,
                      intermediate_dim=8)
    inputs = keras.Input((16,))
    wrapped = keras.Model(inputs, ANDCPrune(keras.layers.Dense(3))(inputs))
    model.save(r"{dir}/cct.keras")
    wrapped.save(r"{dir}/wrapped.keras")
"""

ORDERS = {
    "keras_snp then keras": "import keras_snp\nimport keras\n",
    "keras then keras_snp": "import keras\nimport keras_snp\n",
    "a keras_snp module, then keras": (
        "import keras_snp.models.variants\nimport keras\n"
    ),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    _python(SAVE.format(dir=folder))
    return folder


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_safe_mode_load_after_either_import_order(saved, order):
    out = _python(
        ORDERS[order]
        + textwrap.dedent(f"""
        cct = keras.models.load_model(r"{saved}/cct.keras", safe_mode=True)
        wrapped = keras.models.load_model(r"{saved}/wrapped.keras",
                                          safe_mode=True)
        print(type(cct.get_layer("encoder_1_mha")).__name__,
              type(wrapped.layers[-1]).__name__, cct.count_params())
    """)
    )
    assert re.fullmatch(r"PerHeadAttention ANDCPrune \d+\s*", out), out


def test_jax_registers_and_imports_no_tensorflow(saved):
    """Under JAX `import keras_snp` registers and imports no TensorFlow,
    whether TensorFlow is installed or not."""
    code = f"""
        import sys
        {{block}}
        import keras_snp
        tf_loaded = sys.modules.get("tensorflow") is not None
        import keras
        model = keras.models.load_model(r"{saved}/wrapped.keras")
        print(keras.backend.backend(), tf_loaded, model.count_params())
    """
    blocked = 'sys.modules["tensorflow"] = None  # as if not installed'
    for block in (blocked, "pass"):
        out = _python(code.format(block=block), KERAS_BACKEND="jax")
        assert out.split()[:2] == ["jax", "False"], out
