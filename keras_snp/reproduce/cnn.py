"""A small VGG-style CNN whose conv blocks are SNP taps.

METHOD.md section 5 sets a 4-block CNN (Conv3x3-BN-ReLU, widths
32-64-128-128, about 254k parameters) beside the transformer: its filters
are read with the same SNP engine as the CCT's nodes. Every block output
is a named rank-4 layer `block_{i}`, so `compute_snp(model, ...,
taps=block_names(model))` measures it.
"""

import keras

from keras_snp.constants import CIFAR_MEAN
from keras_snp.constants import CIFAR_STD
from keras_snp.models.layers import ImageNormalization

DEFAULT_WIDTHS = (32, 64, 128, 128)


def build_cnn(
    num_classes,
    image_size=32,
    widths=DEFAULT_WIDTHS,
    mean=CIFAR_MEAN,
    std=CIFAR_STD,
    dropout=0.0,
    name="cnn",
    **unused,
):
    """Builds the VGG-style CNN: blocks of Conv3x3-BN-ReLU, then pooling.

    Block `i` (from 1) is `conv_{i}` (3x3, same padding, no bias),
    `bn_{i}`, then a ReLU named `block_{i}` (the tap, `(H, W, F)`); a 2x2
    max pooling follows every block but the last. Global average pooling
    and a Dense `classifier` (float32 logits) end the model. Input: RGB
    images in 0..255, normalised by the first layer (`normalize`).

    Args:
        num_classes: K, >= 2.
        image_size: input side in pixels; must stay >= 1 after the
            `len(widths) - 1` poolings.
        widths: filters per block (default 32-64-128-128).
        mean, std: channel statistics of images scaled to 0..1.
        dropout: dropout rate before the classifier, in [0, 1).
        name: the model name.
        **unused: ignored (the pipeline passes CCT-only settings such as
            `positional_embedding`).

    Returns:
        A functional `keras.Model`.

    Example:
    >>> model = build_cnn(num_classes=100, image_size=32)
    >>> model.count_params()
    254788
    >>> model.get_layer("block_4").output.shape
    (None, 4, 4, 128)
    """
    if num_classes is None or int(num_classes) < 2:
        raise ValueError(
            "`num_classes` must be an integer >= 2. "
            f"Received: num_classes={num_classes}"
        )
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(
            "`widths` must be a non-empty list of positive filter counts. "
            f"Received: widths={widths}"
        )
    if image_size is None or image_size < 2 ** (len(widths) - 1):
        raise ValueError(
            f"`image_size` must be >= {2 ** (len(widths) - 1)} for "
            f"{len(widths)} blocks (one 2x2 pooling between blocks). "
            f"Received: image_size={image_size}"
        )
    if not 0 <= dropout < 1:
        raise ValueError(
            f"`dropout` must be in [0, 1). Received: dropout={dropout}"
        )
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = ImageNormalization(mean=mean, std=std, name="normalize")(inputs)
    for i, width in enumerate(widths, start=1):
        x = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False, name=f"conv_{i}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.ReLU(name=f"block_{i}")(x)
        if i < len(widths):
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, dtype="float32", name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def block_names(model):
    """The tap names `block_1, block_2, ...` of a `build_cnn` model."""
    names = []
    while True:
        name = f"block_{len(names) + 1}"
        try:
            model.get_layer(name)
        except ValueError:
            return names
        names.append(name)
