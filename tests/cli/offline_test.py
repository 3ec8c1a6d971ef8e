"""Offline, a tfds dataset answers in seconds: one line naming the
dataset, the host and the ways forward; exit 2; nothing downloaded."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from keras_snp.data import sources
from keras_snp.data import tfds_source
from keras_snp.utils import UsageError

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_host_one_line_exit_2_no_files(tmp_path):
    data_dir = tmp_path / "tfds"
    out = tmp_path / "runs"
    code = textwrap.dedent(f"""
        import sys
        from keras_snp.data import tfds_source
        tfds_source.DOWNLOAD_HOSTS["flowers102"] = ("127.0.0.1",
                                                    {_closed_port()})
        from keras_snp_entry import main
        sys.exit(main(["train", "--dataset", "flowers102", "--data-dir",
                       r"{data_dir}", "--output-dir", r"{out}",
                       "--run-name", "r", "--epochs", "1"]))
    """)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        # the host is patched first, so the package is imported here, as
        # the entry imports it: Keras only once the command starts
        env=dict(os.environ, PYTHONPATH=ROOT, KERAS_SNP_DEFER_REGISTRATION="1"),
    )
    assert time.monotonic() - start < 30
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    for word in (
        "flowers102",
        "127.0.0.1",
        "--data-dir",
        "folder of images",
        "--no-download",
    ):
        assert word in lines[0], (word, lines[0])
    for folder in (data_dir, out):
        assert not folder.exists() or not any(folder.rglob("*"))


def test_no_download_fails_at_once(tmp_path):
    with pytest.raises(UsageError, match="not prepared in .*download=False"):
        sources.check_source("cifar100", data_dir=str(tmp_path), download=False)


def test_prepared_dataset_is_found_without_tfds(tmp_path):
    version = tmp_path / "cifar100" / "3.0.2"
    version.mkdir(parents=True)
    assert not tfds_source.is_prepared("cifar100", str(tmp_path))
    (version / "dataset_info.json").write_text("{}")
    assert tfds_source.is_prepared("cifar100", str(tmp_path))
    sources.check_source("cifar100", data_dir=str(tmp_path), download=False)


def test_label_names_files(tmp_path):
    (tmp_path / "names.json").write_text('["cat", "dog", "emu"]')
    (tmp_path / "names.txt").write_text("cat\n\ndog\nemu\n")
    for name in ("names.json", "names.txt"):
        assert sources.read_label_names(str(tmp_path / name)) == [
            "cat",
            "dog",
            "emu",
        ]
    (tmp_path / "bad.json").write_text('["cat", ')
    with pytest.raises(UsageError, match="JSON list"):
        sources.read_label_names(str(tmp_path / "bad.json"))
    with pytest.raises(UsageError, match="Label names are for"):
        sources.check_source("synthetic", ["a", "b"])


def test_label_names_in_a_json_object(tmp_path):
    # the layout of the lab's CIFAR-100 file: two lists and a note
    fine = [f"fine_{i}" for i in range(100)]
    lab = {
        "fine_label_names": fine,
        "coarse_label_names": ["c0", "c1"],
        "note": "from the official pickles",
    }
    path = tmp_path / "label_names.json"
    path.write_text(json.dumps(lab, indent=1))
    with pytest.raises(
        UsageError,
        match=r"several lists \(coarse_label_names,"
        r" fine_label_names\): pick one with .*#fine_label_names",
    ):
        sources.read_label_names(str(path))
    assert sources.read_label_names(f"{path}#fine_label_names") == fine
    with pytest.raises(UsageError, match="no list 'fine'; its lists: coarse"):
        sources.read_label_names(f"{path}#fine")
    (tmp_path / "one.json").write_text(json.dumps({"names": ["a", "b"]}))
    assert sources.read_label_names(str(tmp_path / "one.json")) == ["a", "b"]
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    with pytest.raises(UsageError, match="#KEY is for JSON objects only"):
        sources.read_label_names(f"{tmp_path / 'names.txt'}#fine")


def test_label_names_and_limit_on_a_folder(tmp_path):
    import numpy as np
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "train" / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8, 3), 40 * i, "uint8")).save(
                tmp_path / "train" / c / f"{i}.png"
            )
    with pytest.raises(UsageError, match="3 label names for the 2 class"):
        sources.check_source(str(tmp_path), ["x", "y", "z"])
    splits = sources.load(
        str(tmp_path),
        8,
        2,
        recipe="none",
        label_names=["first", "second"],
        examples_per_class=2,
        validation_fraction=0.0,
        backend_format="numpy",
        test_split="validation",
    )
    assert splits.info.label_names == ["first", "second"]
    assert splits.info.split_sizes["train"] == 4
