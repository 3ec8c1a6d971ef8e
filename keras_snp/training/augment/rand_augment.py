"""timm's RandAugment `rand-m9-mstd0.5-inc1`, batched, one draw per image.

The policy string means: `n = 2` ops per image, drawn with replacement
from timm's 15 "increasing" ops (`_RAND_INCREASING_TRANSFORMS`), each
applied with probability 0.5, at a magnitude drawn per application from
N(9, 0.5) clipped to [0, 10], mapped to the op's argument by timm's
`level_to_arg` functions (signed ops flip sign with probability 0.5).

`sample_policy` draws those choices (cheap, testable on its own),
`op_arguments` maps magnitudes to arguments, and `apply_rand_augment` runs
them after the random-resized crop and flip: geometric ops are folded into
the crop's matrix (one warp) unless a pixel op comes before them in the
image's own order, which a second warp then respects.
"""

import keras
from keras import ops

from keras_snp.training.augment import color
from keras_snp.training.augment import geometry
from keras_snp.training.augment import subset

POLICY = "rand-m9-mstd0.5-inc1"
OP_NAMES = (
    "AutoContrast",
    "Equalize",
    "Invert",
    "Rotate",
    "PosterizeIncreasing",
    "SolarizeIncreasing",
    "SolarizeAdd",
    "ColorIncreasing",
    "ContrastIncreasing",
    "BrightnessIncreasing",
    "SharpnessIncreasing",
    "ShearX",
    "ShearY",
    "TranslateXRel",
    "TranslateYRel",
)
NUM_OPS = 2
MAGNITUDE = 9.0
MAGNITUDE_STD = 0.5
MAGNITUDE_MAX = 10.0
APPLY_PROB = 0.5

G, C = geometry, color
# timm op index -> (geometric code, pixel code); one of them is NONE.
_GEOMETRIC = (
    G.NONE,
    G.NONE,
    G.NONE,
    G.ROTATE,
    G.NONE,
    G.NONE,
    G.NONE,
    G.NONE,
    G.NONE,
    G.NONE,
    G.NONE,
    G.SHEAR_X,
    G.SHEAR_Y,
    G.TRANSLATE_X,
    G.TRANSLATE_Y,
)
_PIXEL = (
    C.AUTO_CONTRAST,
    C.EQUALIZE,
    C.INVERT,
    C.NONE,
    C.POSTERIZE,
    C.SOLARIZE,
    C.SOLARIZE_ADD,
    C.COLOR,
    C.CONTRAST,
    C.BRIGHTNESS,
    C.SHARPNESS,
    C.NONE,
    C.NONE,
    C.NONE,
    C.NONE,
)


def sample_policy(
    batch_size,
    seed,
    num_ops=NUM_OPS,
    magnitude=MAGNITUDE,
    magnitude_std=MAGNITUDE_STD,
    prob=APPLY_PROB,
):
    """Draws timm's RandAugment choices for every image of a batch.

    Args:
        batch_size: B.
        seed: a `keras.random.SeedGenerator` (or int).
        num_ops: op slots per image.
        magnitude, magnitude_std: the magnitude's normal distribution
            (clipped to [0, 10]).
        prob: probability that a slot's op is applied.

    Returns:
        dict of `(B, num_ops)` tensors: `op` (int32 index into
        `OP_NAMES`), `apply` (bool), `magnitude` (float32), `sign`
        (float32, +1 or -1).
    """
    shape = (batch_size, num_ops)
    draws = keras.random.uniform(shape + (3,), seed=seed)
    noise = keras.random.normal(shape, seed=seed)
    count = len(OP_NAMES)
    op = ops.minimum(
        ops.cast(ops.floor(draws[..., 0] * count), "int32"), count - 1
    )
    return {
        "op": op,
        "apply": draws[..., 1] < prob,
        "magnitude": ops.clip(
            magnitude + magnitude_std * noise, 0.0, MAGNITUDE_MAX
        ),
        "sign": ops.where(draws[..., 2] < 0.5, 1.0, -1.0),
    }


def op_arguments(op, magnitude, sign):
    """timm's `level_to_arg` maps, elementwise.

    Rotate: `±30 m / 10` degrees; shear: `±0.3 m / 10`; translate:
    `±0.45 m / 10` of the side; posterize bits `4 - int(4 m / 10)`;
    solarize threshold `256 - int(256 m / 10)`; solarize-add
    `int(110 m / 10)`; enhancement factor `max(0.1, 1 ± 0.9 m / 10)`.
    Ops without an argument get 0.
    """
    level = magnitude / 10.0
    names = {name: i for i, name in enumerate(OP_NAMES)}
    enhance = ops.maximum(0.1, 1.0 + sign * level * 0.9)
    table = [
        ("Rotate", sign * level * 30.0),
        ("PosterizeIncreasing", 4.0 - ops.floor(level * 4.0)),
        (
            "SolarizeIncreasing",
            256.0 - ops.minimum(256.0, ops.floor(level * 256.0)),
        ),
        ("SolarizeAdd", ops.minimum(128.0, ops.floor(level * 110.0))),
        ("ColorIncreasing", enhance),
        ("ContrastIncreasing", enhance),
        ("BrightnessIncreasing", enhance),
        ("SharpnessIncreasing", enhance),
        ("ShearX", sign * level * 0.3),
        ("ShearY", sign * level * 0.3),
        ("TranslateXRel", sign * level * 0.45),
        ("TranslateYRel", sign * level * 0.45),
    ]
    args = ops.zeros_like(magnitude)
    for name, value in table:
        args = ops.where(op == names[name], value, args)
    return args


def _codes(policy, slot):
    applied = policy["apply"][:, slot]
    op = policy["op"][:, slot]
    geo = ops.take(ops.convert_to_tensor(_GEOMETRIC, "int32"), op)
    pixel = ops.take(ops.convert_to_tensor(_PIXEL, "int32"), op)
    return (ops.where(applied, geo, G.NONE), ops.where(applied, pixel, C.NONE))


def apply_rand_augment(images, crop, policy, fill):
    """Crop, flip, then the two RandAugment slots of every image.

    Args:
        images: float32 `(B, H, W, C)`, integer values 0..255.
        crop: `geometry.sample_crop`'s dict (crop to the same size).
        policy: `sample_policy`'s dict with `num_ops=2`.
        fill: float32 `(C,)`, timm's `img_mean` fill colour (0..255).

    Returns:
        float32 `(B, H, W, C)`, integer values 0..255.
    """
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    args = op_arguments(policy["op"], policy["magnitude"], policy["sign"])
    geo1, pixel1 = _codes(policy, 0)
    geo2, pixel2 = _codes(policy, 1)
    # A geometric second op after a pixel first op needs its own warp.
    late = (pixel1 != C.NONE) & (geo2 != G.NONE)
    geo2_early = ops.where(late, G.NONE, geo2)
    geo2_late = ops.where(late, geo2, G.NONE)
    first = geometry.op_matrix(geo1, args[:, 0], height, width)
    second = geometry.op_matrix(geo2_early, args[:, 1], height, width)
    chain = ops.matmul(first, second)
    matrix = ops.matmul(geometry.crop_matrix(crop, height, width), chain)
    images = geometry.warp(images, matrix, [second, chain], fill)
    op_prob = APPLY_PROB / len(OP_NAMES)
    images = color.apply_pixel_op(images, pixel1, args[:, 0], op_prob)
    late_matrix = geometry.op_matrix(geo2_late, args[:, 1], height, width)

    def late_warp(sub, matrix):
        return geometry.warp(sub, matrix, [matrix], fill)

    # P(pixel op first) * P(geometric op second) = 1/3 * 1/6.
    images = subset.map_subset(
        late_warp, images, late, [late_matrix], 1.0 / 18.0
    )
    return color.apply_pixel_op(images, pixel2, args[:, 1], op_prob)
