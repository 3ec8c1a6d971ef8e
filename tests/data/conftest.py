import logging

import numpy as np
import pytest


@pytest.fixture
def make_folder(tmp_path):
    """Writes an image folder; returns (path, colour of each class)."""
    from PIL import Image

    def make(
        classes=("1", "2", "10"),
        splits=("train", "test"),
        per_class=3,
        extras=True,
    ):
        colours = {}
        for c, name in enumerate(classes):
            colours[name] = np.array([40 + 60 * c, 200 - 50 * c, 90], "uint8")
            for split in splits:
                folder = tmp_path / split / name
                folder.mkdir(parents=True)
                for i in range(per_class):
                    size = (20 + 7 * i, 16 + 5 * c)  # varying sizes
                    image = Image.new("RGB", size, tuple(colours[name]))
                    image.save(folder / f"img_{i}.jpg", quality=95)
        if extras:
            first = tmp_path / "train" / classes[0]
            grey = Image.new("L", (25, 19), 120)
            grey.save(first / "grey.png")
            rgba = Image.new("RGBA", (18, 30), (10, 20, 30, 255))
            rgba.save(first / "rgba.png")
            (first / "notes.txt").write_text("not an image")
            good = first / "img_0.jpg"
            (first / "broken.jpg").write_bytes(
                good.read_bytes()[: good.stat().st_size // 2]
            )
        return tmp_path, colours

    return make


@pytest.fixture(autouse=True)
def _quiet_logs():
    logging.getLogger("absl").setLevel(logging.ERROR)
