"""Shared test helpers: the Keras TestCase and one tiny CCT."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras.src.testing import TestCase  # noqa: E402  (pinned keras)

from keras_snp.models import build_cct  # noqa: E402

__all__ = ["TestCase", "tiny_cct"]


def tiny_cct(num_classes=5, image_size=16, **overrides):
    """A 2-encoder, 2-head, width-16 CCT that builds and runs in a second."""
    settings = dict(
        num_layers=2,
        num_heads=2,
        embed_dim=16,
        mlp_ratio=2,
        kernel_size=3,
        num_convs=1,
        intermediate_dim=8,
    )
    settings.update(overrides)
    return build_cct(
        "cct_2_3x2", num_classes=num_classes, image_size=image_size, **settings
    )
