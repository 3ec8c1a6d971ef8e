"""The README's "Your own model" example runs as written."""

import os
import re

import numpy as np
import pytest

# end-to-end (training, fine-tunes, saved models): run once in CI, at the
# highest Keras
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def readme_example():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### Your own model", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_your_own_model_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        "[('block_1_mha', 'mha', (16, 4, 8)), ('block_1_ff', 'ff', (16, 32))]"
    )
    assert float(printed[1]) > 0
    cache, silenced = namespace["cache"], namespace["silenced"]
    assert cache["block_1_mha"].shape == (8, 16, 4, 8)
    assert np.abs(silenced - namespace["logits"]).max() > 0
    assert (tmp_path / "out/my_model/snp/summary.json").exists()
    assert (tmp_path / "out/my_model/heads/heads.json").exists()
    assert any(
        line.endswith("% of the connections removed") for line in printed
    )
    assert (tmp_path / "out/my_model/pruned.keras").exists()
    pruned, smaller = namespace["pruned"], namespace["smaller"]
    kept, total = printed[-1].split(" of ")
    assert int(kept) == smaller.count_params() < int(total.split()[0])
    np.testing.assert_allclose(
        smaller.predict(namespace["x_train"][:8], verbose=0),
        pruned.model.predict(namespace["x_train"][:8], verbose=0),
        atol=1e-5,
    )
    assert (tmp_path / "out/my_model/smaller.keras").exists()
