"""timm's `Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="batch")`.

One draw per batch: CutMix with probability `switch_prob` (0.5), lambda
from Beta(1, 1), a box of sides `int(side * sqrt(1 - lambda))` centred
uniformly and clipped to the image, lambda corrected to the kept area;
otherwise MixUp with lambda from Beta(0.8, 0.8). Each image is mixed with
the image at the mirrored batch position (`x.flip(0)`), and so are the
labels, after label smoothing (`off = s / K`, `on = 1 - s + off`): timm's
`mixup_target`, the only place the smoothing is applied.
"""

import keras
from keras import ops

MIXUP_ALPHA = 0.8
CUTMIX_ALPHA = 1.0
SWITCH_PROB = 0.5
LABEL_SMOOTHING = 0.1


def sample_beta(alpha, seed, tries=16):
    """One Beta(alpha, alpha) draw from two Marsaglia-Tsang gamma draws.

    Written with uniform and normal draws only (TensorFlow's gamma sampler
    does not compile with XLA): `tries` candidates per gamma draw, the
    first accepted one kept (each is accepted with probability > 0.95).
    """
    boost = alpha < 1.0
    shape = alpha + 1.0 if boost else alpha
    d = shape - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    x = keras.random.normal((2, tries), seed=seed)
    u = keras.random.uniform((2, tries + 1), seed=seed)
    v = (1.0 + c * x) ** 3
    safe_v = ops.maximum(v, 1e-12)
    accept = (v > 0.0) & (
        ops.log(u[:, :tries])
        < 0.5 * x * x + d - d * safe_v + d * ops.log(safe_v)
    )
    rank = ops.where(accept, ops.arange(tries, dtype="int32"), tries)
    first = ops.minimum(ops.min(rank, axis=-1), tries - 1)
    gamma = d * ops.take_along_axis(safe_v, first[:, None], axis=-1)[:, 0]
    if boost:
        gamma = gamma * u[:, tries] ** (1.0 / alpha)
    return gamma[0] / (gamma[0] + gamma[1])


def sample_mixing(
    height,
    width,
    seed,
    mixup_alpha=MIXUP_ALPHA,
    cutmix_alpha=CUTMIX_ALPHA,
    switch_prob=SWITCH_PROB,
):
    """Draws one batch's mixing parameters.

    Args:
        height, width: image size (Python ints).
        seed: a `keras.random.SeedGenerator` (or int).

    Returns:
        dict of scalars: `cutmix` (bool), `lam` (float32, the weight of the
        image itself, corrected for the clipped CutMix box), and the box
        `top`, `bottom`, `left`, `right` (float32 pixels, end-exclusive;
        empty for MixUp); `center` and `cut` (float32 `(2,)`, y then x:
        the CutMix box's drawn centre and unclipped sides).
    """
    draws = keras.random.uniform((3,), seed=seed)
    lam_mix = sample_beta(mixup_alpha, seed)
    lam_cut = sample_beta(cutmix_alpha, seed)
    cutmix = draws[0] < switch_prob
    ratio = ops.sqrt(1.0 - lam_cut)
    cut_h = ops.floor(height * ratio)
    cut_w = ops.floor(width * ratio)
    cy = ops.floor(draws[1] * height)
    cx = ops.floor(draws[2] * width)
    top = ops.clip(cy - ops.floor(cut_h / 2.0), 0.0, height)
    bottom = ops.clip(cy + ops.floor(cut_h / 2.0), 0.0, height)
    left = ops.clip(cx - ops.floor(cut_w / 2.0), 0.0, width)
    right = ops.clip(cx + ops.floor(cut_w / 2.0), 0.0, width)
    kept = 1.0 - (bottom - top) * (right - left) / float(height * width)
    zero = ops.zeros_like(top)
    return {
        "cutmix": cutmix,
        "lam": ops.where(cutmix, kept, ops.cast(lam_mix, "float32")),
        "top": ops.where(cutmix, top, zero),
        "bottom": ops.where(cutmix, bottom, zero),
        "left": ops.where(cutmix, left, zero),
        "right": ops.where(cutmix, right, zero),
        "center": ops.stack([cy, cx]),
        "cut": ops.stack([cut_h, cut_w]),
    }


def smooth_labels(labels, smoothing=LABEL_SMOOTHING):
    """timm's smoothed one-hot rows: `off = s / K`, `on = 1 - s + off`."""
    num_classes = ops.shape(labels)[-1]
    off = smoothing / num_classes
    return labels * (1.0 - smoothing) + off


def apply_mixing(images, labels, params, flipped=None):
    """Mixes a batch with its mirror image (MixUp or CutMix).

    Args:
        images: float32 `(B, H, W, C)`.
        labels: float32 `(B, K)` (smoothed) one-hot rows.
        params: `sample_mixing`'s dict.
        flipped: `images` in reverse batch order, when the caller can
            compute it more cheaply than by reading `images` back.

    Returns:
        `(images, labels)`, each row of `labels` still summing to 1.
    """
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    if flipped is None:
        flipped = ops.flip(images, axis=0)
    lam = params["lam"]
    rows = ops.arange(height, dtype="float32")[:, None]
    cols = ops.arange(width, dtype="float32")[None, :]
    box = (
        (rows >= params["top"])
        & (rows < params["bottom"])
        & (cols >= params["left"])
        & (cols < params["right"])
    )
    box = box[None, :, :, None]
    cut = ops.where(box, flipped, images)
    mixed = images * lam + flipped * (1.0 - lam)
    images = ops.where(params["cutmix"], cut, mixed)
    labels = labels * lam + ops.flip(labels, axis=0) * (1.0 - lam)
    return images, labels
