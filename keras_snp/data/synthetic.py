"""`synthetic`: a dataset generated offline that a tiny CCT learns in an epoch.

Class `c` has its own background colour and a bright square in its own
position (one of a 3x3 grid of places, the square's colour also fixed per
class); every image adds a random shift of the square, a random brightness
and Gaussian noise. The class look (colours, places) is fixed, the same for
every seed; the seed draws the samples, so the same seed gives the same
arrays.
"""

import numpy as np

DEFAULT_CLASSES = 10
DEFAULT_TRAIN_PER_CLASS = 100
DEFAULT_EVAL_PER_CLASS = 20
NOISE_STD = 20.0


def class_styles(num_classes):
    """Per class: background RGB, square RGB and grid cell (row, col)."""
    rng = np.random.default_rng(20250101)
    background = rng.uniform(30, 200, size=(num_classes, 3))
    square = rng.uniform(0, 255, size=(num_classes, 3))
    cells = (
        [(c % 9) // 3 for c in range(num_classes)],
        [c % 3 for c in range(num_classes)],
    )
    return background, square, np.stack(cells, axis=1)


def generate(num_classes, per_class, image_size, seed, stream):
    """Returns uint8 images (num_classes * per_class, S, S, 3), int labels.

    `stream` (0 train, 1 validation, 2 test) keeps the splits disjoint.
    """
    background, square, cells = class_styles(num_classes)
    rng = np.random.default_rng([seed, stream])
    labels = np.repeat(np.arange(num_classes), per_class)
    rng.shuffle(labels)
    n, s = len(labels), image_size
    side = max(1, s // 4)
    images = np.empty((n, s, s, 3), "float32")
    images[:] = background[labels][:, None, None, :]
    jitter = max(1, s // 16)
    for i, c in enumerate(labels):
        row, col = cells[c]
        top = int(row * s / 3 + (s / 3 - side) / 2) + rng.integers(
            -jitter, jitter + 1
        )
        left = int(col * s / 3 + (s / 3 - side) / 2) + rng.integers(
            -jitter, jitter + 1
        )
        top, left = np.clip([top, left], 0, s - side)
        images[i, top : top + side, left : left + side] = square[c]
    images *= rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))
    images += rng.normal(0.0, NOISE_STD, size=images.shape)
    return np.clip(np.rint(images), 0, 255).astype("uint8"), labels
