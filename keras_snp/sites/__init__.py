"""Sites, adapters and the hooked model: where the nodes of any Keras
model are, their activations, and their ablation."""

from keras_snp.sites.ablation import AblationModel
from keras_snp.sites.adapters import ADAPTERS
from keras_snp.sites.adapters import detect
from keras_snp.sites.adapters import find_sites
from keras_snp.sites.adapters import register_adapter
from keras_snp.sites.adapters import sites_of_layers
from keras_snp.sites.hooks import ablate
from keras_snp.sites.hooks import ablation_effect
from keras_snp.sites.hooks import hooked
from keras_snp.sites.hooks import layer_at
from keras_snp.sites.hooks import per_label_accuracy
from keras_snp.sites.hooks import run_with_cache
from keras_snp.sites.site import Site

__all__ = [
    "ADAPTERS",
    "AblationModel",
    "Site",
    "ablate",
    "ablation_effect",
    "detect",
    "find_sites",
    "hooked",
    "layer_at",
    "per_label_accuracy",
    "register_adapter",
    "run_with_cache",
    "sites_of_layers",
]
