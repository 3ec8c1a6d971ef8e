"""The node ablations' test subset: the first N images, cut mid-batch."""

import numpy as np
import pytest

from keras_snp.pages.collect import first_images
from keras_snp.pages.settings import PagesSettings


def test_first_images_cuts_the_batch_that_crosses_the_count():
    images = np.arange(10 * 2).reshape(10, 2)
    labels = np.arange(10)
    data = [(images[i : i + 4], labels[i : i + 4]) for i in (0, 4, 8)]
    kept = first_images(data, 6)
    assert [len(x) for x, _ in kept] == [4, 2]
    np.testing.assert_array_equal(
        np.concatenate([y for _, y in kept]), labels[:6]
    )
    assert sum(len(x) for x, _ in first_images(data, None)) == 10


def test_ablation_images_must_be_positive():
    with pytest.raises(ValueError, match="ablation_images=0"):
        PagesSettings(ablation_images=0)
