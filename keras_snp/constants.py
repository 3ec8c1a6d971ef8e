"""Constants that the data and the model both need, owned by neither.

Per-channel normalisation statistics of RGB images scaled to 0..1. The
model's first layer (`ImageNormalization`) applies them; the datasets name
which set is theirs.
"""

CIFAR_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SYNTHETIC_MEAN = (0.5, 0.5, 0.5)
SYNTHETIC_STD = (0.25, 0.25, 0.25)
