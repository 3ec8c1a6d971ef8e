"""Constants that several packages need, owned by none of them.

Per-channel normalisation statistics of RGB images scaled to 0..1. The
model's first layer (`ImageNormalization`) applies them; the datasets name
which set is theirs.
"""

# The official CCT configs (SHI-Labs `configs/datasets/*.yml`).
CIFAR_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR_STD = (0.2675, 0.2565, 0.2761)
FLOWERS_MEAN = (0.4353, 0.3773, 0.2872)
FLOWERS_STD = (0.2966, 0.2455, 0.2698)
# Folders and npz files, unless the user gives `mean` / `std`.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SYNTHETIC_MEAN = (0.5, 0.5, 0.5)
SYNTHETIC_STD = (0.25, 0.25, 0.25)

# The SNP threshold on the normalised matrix (METHOD.md section 2): the one
# default of the library, the command line and the run settings.
DEFAULT_THETA = 0.3

# torchvision / timm `RandomResizedCrop` of the official recipe: area
# fraction, aspect range and attempts (the device crop and the host crop
# from the whole image share them).
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
CROP_ATTEMPTS = 10
