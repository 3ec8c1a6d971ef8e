"""`import keras_snp` is light, and saved models load whichever of
`keras` and `keras_snp` is imported first (the layers register when Keras
arrives). Each case runs in a fresh interpreter."""

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
    full_env = dict(
        os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", **env
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_keras_snp_imports_no_keras():
    out = _python("""
        import sys
        import keras_snp
        import keras_snp.cli.train, keras_snp.run.resolve
        from keras_snp.models import VARIANTS, min_image_size
        from keras_snp.data import check_source, defaults_for
        check_source("synthetic")
        print(sorted(m for m in ("keras", "tensorflow", "jax")
                     if m in sys.modules))
    """)
    assert out.strip() == "[]"


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
    "a keras_snp module imports keras": (
        "import keras_snp.models.cct\nimport keras\n"
    ),
    "via a public name": (
        "import keras_snp\nkeras_snp.build_cct\nimport keras\n"
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
        for name in ("cct", "wrapped"):
            model = keras.models.load_model(r"{saved}/" + name + ".keras",
                                            safe_mode=True)
            print(name, model.count_params())
    """)
    )
    assert re.search(r"cct \d+", out) and re.search(r"wrapped \d+", out)


def test_jax_without_tensorflow_registers_too(saved):
    out = _python(
        f"""
        import sys
        sys.modules["tensorflow"] = None  # as if not installed
        import keras_snp
        import keras
        model = keras.models.load_model(r"{saved}/wrapped.keras")
        print(keras.backend.backend(), model.count_params())
    """,
        KERAS_BACKEND="jax",
    )
    assert out.startswith("jax ")
