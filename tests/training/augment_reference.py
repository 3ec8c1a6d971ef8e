"""Independent references for the official augmentation: Pillow and numpy.

Each `check_*` runs one keras_snp op on fixed parameters and its reference
(Pillow's `ImageOps` / `ImageEnhance` / `Image.transform`, as timm calls
them, or plain numpy), and returns the largest absolute difference on the
pixels compared. `all_errors()` runs every check on the current backend;
the JAX test calls it in a subprocess.
"""

import math

import numpy as np
from keras import ops
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageOps

from keras_snp.training.augment import color
from keras_snp.training.augment import erasing
from keras_snp.training.augment import geometry
from keras_snp.training.augment import mixing

SIZE = 24
FILL = (124, 116, 104)


def image(seed=0, size=SIZE):
    """A smooth gradient plus noise: realistic histograms, all 3 channels
    different."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 7 + 20, yy * 6 + 40, (xx + yy) * 3 + 60], -1)
    noise = rng.integers(-25, 26, base.shape)
    return np.clip(base + noise, 0, 255).astype("uint8")


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), "float32")


def _posterize(img, bits):
    if bits == 0:  # Pillow >= 11 refuses 0 bits; the mask keeps nothing.
        return Image.fromarray(np.zeros_like(np.asarray(img)))
    return ImageOps.posterize(img, bits)


def _solarize_add(img, add):
    lut = [min(255, i + add) if i < 128 else i for i in range(256)] * 3
    return img.point(lut)


PIXEL_CASES = [
    ("auto_contrast", color.AUTO_CONTRAST, 0.0, ImageOps.autocontrast),
    ("equalize", color.EQUALIZE, 0.0, ImageOps.equalize),
    ("invert", color.INVERT, 0.0, ImageOps.invert),
    ("posterize_2", color.POSTERIZE, 2.0, lambda im: _posterize(im, 2)),
    ("posterize_0", color.POSTERIZE, 0.0, lambda im: _posterize(im, 0)),
    ("solarize", color.SOLARIZE, 26.0, lambda im: ImageOps.solarize(im, 26)),
    (
        "solarize_add",
        color.SOLARIZE_ADD,
        99.0,
        lambda im: _solarize_add(im, 99),
    ),
    (
        "color",
        color.COLOR,
        1.81,
        lambda im: ImageEnhance.Color(im).enhance(1.81),
    ),
    (
        "color_low",
        color.COLOR,
        0.19,
        lambda im: ImageEnhance.Color(im).enhance(0.19),
    ),
    (
        "contrast",
        color.CONTRAST,
        1.81,
        lambda im: ImageEnhance.Contrast(im).enhance(1.81),
    ),
    (
        "contrast_low",
        color.CONTRAST,
        0.19,
        lambda im: ImageEnhance.Contrast(im).enhance(0.19),
    ),
    (
        "brightness",
        color.BRIGHTNESS,
        1.81,
        lambda im: ImageEnhance.Brightness(im).enhance(1.81),
    ),
    (
        "sharpness",
        color.SHARPNESS,
        1.81,
        lambda im: ImageEnhance.Sharpness(im).enhance(1.81),
    ),
    (
        "sharpness_low",
        color.SHARPNESS,
        0.19,
        lambda im: ImageEnhance.Sharpness(im).enhance(0.19),
    ),
]


def check_pixel_ops():
    """All pixel ops in ONE batch (one op per image) against Pillow."""
    images = np.stack([image(i) for i in range(len(PIXEL_CASES))])
    codes = np.array([c[1] for c in PIXEL_CASES], "int32")
    args = np.array([c[2] for c in PIXEL_CASES], "float32")
    out = _np(color.apply_pixel_op(images.astype("float32"), codes, args))
    errors = {}
    for i, (name, _, _, reference) in enumerate(PIXEL_CASES):
        expected = np.asarray(reference(Image.fromarray(images[i])), "float32")
        errors[name] = float(np.abs(out[i] - expected).max())
    return errors


def _pil_affine(img, coeffs):
    return img.transform(
        img.size, Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=FILL
    )


GEOMETRIC_CASES = [
    (
        "rotate",
        geometry.ROTATE,
        27.0,
        lambda im: im.rotate(27.0, resample=Image.BILINEAR, fillcolor=FILL),
    ),
    (
        "rotate_neg",
        geometry.ROTATE,
        -13.5,
        lambda im: im.rotate(-13.5, resample=Image.BILINEAR, fillcolor=FILL),
    ),
    (
        "shear_x",
        geometry.SHEAR_X,
        0.27,
        lambda im: _pil_affine(im, (1, 0.27, 0, 0, 1, 0)),
    ),
    (
        "shear_y",
        geometry.SHEAR_Y,
        -0.27,
        lambda im: _pil_affine(im, (1, 0, 0, -0.27, 1, 0)),
    ),
    (
        "translate_x",
        geometry.TRANSLATE_X,
        0.405,
        lambda im: _pil_affine(im, (1, 0, 0.405 * SIZE, 0, 1, 0)),
    ),
    (
        "translate_y",
        geometry.TRANSLATE_Y,
        -0.2,
        lambda im: _pil_affine(im, (1, 0, 0, 0, 1, -0.2 * SIZE)),
    ),
]


def _erode(mask):
    padded = np.pad(mask, 1)
    out = mask.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return out


def check_geometric_ops():
    """Each geometric op, alone, against Pillow: `(interior, fill)` errors.

    Interior: pixels whose 3x3 neighbourhood samples inside the image;
    fill: the fraction of pixels where exactly one side has the fill.
    """
    images = np.stack([image(i) for i in range(len(GEOMETRIC_CASES))])
    codes = np.array([c[1] for c in GEOMETRIC_CASES], "int32")
    args = np.array([c[2] for c in GEOMETRIC_CASES], "float32")
    matrix = geometry.op_matrix(codes, args, SIZE, SIZE)
    fill = np.asarray(FILL, "float32")
    out = _np(geometry.warp(images.astype("float32"), matrix, [matrix], fill))
    inside = _np(geometry._inside(matrix, SIZE, SIZE)) > 0
    errors = {}
    for i, (name, _, _, reference) in enumerate(GEOMETRIC_CASES):
        expected = np.asarray(reference(Image.fromarray(images[i])), "float32")
        interior = _erode(inside[i])
        diff = np.abs(out[i] - expected)[interior]
        ours_fill = (out[i] == fill).all(-1)
        pil_fill = (expected == fill).all(-1)
        errors[name] = (
            float(diff.max()),
            float((ours_fill != pil_fill).mean()),
        )
    return errors


def check_crop_flip():
    """Random-resized crop + flip against torchvision's PIL path:
    `img.crop(box).resize(size, BILINEAR)` then a mirror; interior pixels
    (the crop's border rows blend with pixels outside it here)."""
    img = image(3)
    crops = [(2.0, 3.0, 20.0, 19.0, False), (0.0, 1.0, 21.0, 23.0, True)]
    crop = {
        k: np.array([c[i] for c in crops], "float32" if i < 4 else bool)
        for i, k in enumerate(("top", "left", "height", "width", "flip"))
    }
    batch = np.stack([img, img]).astype("float32")
    matrix = geometry.crop_matrix(crop, SIZE, SIZE)
    out = _np(geometry.warp(batch, matrix, [], np.zeros(3, "float32")))
    errors = []
    for i, (top, left, h, w, flip) in enumerate(crops):
        ref = (
            Image.fromarray(img)
            .crop((int(left), int(top), int(left + w), int(top + h)))
            .resize((SIZE, SIZE), Image.BILINEAR)
        )
        if flip:
            ref = ImageOps.mirror(ref)
        expected = np.asarray(ref, "float32")
        errors.append(float(np.abs(out[i] - expected)[2:-2, 2:-2].max()))
    return max(errors)


def check_erasing():
    """`apply_erasing` against numpy slicing with the same noise."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 10, 12, 3)).astype("float32")
    noise = rng.normal(size=images.shape).astype("float32")
    boxes = {
        "top": np.array([1.0, 0.0, 4.0], "float32"),
        "left": np.array([2.0, 5.0, 0.0], "float32"),
        "height": np.array([3.0, 9.0, 6.0], "float32"),
        "width": np.array([4.0, 2.0, 11.0], "float32"),
        "erase": np.array([True, True, False]),
    }
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    out = _np(erasing.apply_erasing(images, boxes, noise, mean, std))
    expected = images.copy()
    for i in range(3):
        if not boxes["erase"][i]:
            continue
        t, left = int(boxes["top"][i]), int(boxes["left"][i])
        h, w = int(boxes["height"][i]), int(boxes["width"][i])
        region = noise[i, t : t + h, left : left + w]
        expected[i, t : t + h, left : left + w] = (
            255 * np.asarray(mean) + 255 * np.asarray(std) * region
        )
    return float(np.abs(out - expected).max())


def rand_bbox(height, width, cy, cx, cut_h, cut_w):
    """timm's `rand_bbox` given its draws, and the corrected lambda."""
    yl = int(np.clip(cy - cut_h // 2, 0, height))
    yh = int(np.clip(cy + cut_h // 2, 0, height))
    xl = int(np.clip(cx - cut_w // 2, 0, width))
    xh = int(np.clip(cx + cut_w // 2, 0, width))
    lam = 1.0 - (yh - yl) * (xh - xl) / float(height * width)
    return (yl, yh, xl, xh), lam


def check_cutmix():
    """CutMix boxes and lambdas against timm's `rand_bbox` (numpy), and the
    mixed batch against numpy slicing; over 40 seeds."""
    rng = np.random.default_rng(1)
    height, width = 12, 10
    images = rng.uniform(0, 255, (4, height, width, 3)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    errors, seen = [], 0
    for seed in range(40):
        params = {
            k: _np(v)
            for k, v in mixing.sample_mixing(height, width, seed).items()
        }
        if not params["cutmix"]:
            continue
        seen += 1
        cy, cx = (int(v) for v in params["center"])
        cut_h, cut_w = (int(v) for v in params["cut"])
        (yl, yh, xl, xh), lam = rand_bbox(height, width, cy, cx, cut_h, cut_w)
        got = [params[k] for k in ("top", "bottom", "left", "right")]
        errors.append(np.abs(np.array(got) - [yl, yh, xl, xh]).max())
        errors.append(abs(float(params["lam"]) - lam))
        x, y = mixing.apply_mixing(images, labels, params)
        expected = images.copy()
        expected[:, yl:yh, xl:xh] = images[::-1, yl:yh, xl:xh]
        errors.append(np.abs(_np(x) - expected).max())
        mixed = labels * lam + labels[::-1] * (1 - lam)
        errors.append(np.abs(_np(y) - mixed).max())
    return float(max(errors)), seen


def all_errors():
    """Every check on the current backend (JSON-friendly)."""
    cutmix, seen = check_cutmix()
    return {
        "pixel": check_pixel_ops(),
        "geometric": check_geometric_ops(),
        "crop_flip": check_crop_flip(),
        "erasing": check_erasing(),
        "cutmix": cutmix,
        "cutmix_seen": seen,
        "pi": math.pi,
    }
