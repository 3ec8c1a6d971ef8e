"""Every stage's settings, each default defined once (plain Python).

The SNP readouts (`ReadoutConfig`, its L-BFGS `SolverConfig`), the heads
(`HeadsSettings`) and the pruning stage (`PruneSettings`, its `FineTune`)
are frozen dataclasses here; `keras_snp.run.config.RunConfig` takes its
defaults from them, and so do the command line's flags. The module imports
neither Keras nor NumPy, so `--help` reads these defaults before Keras
starts (the `snp` and `heads` packages import Keras when imported). The
classes are also importable where they are used: `ReadoutConfig` from
`keras_snp.snp`, `SolverConfig` from `keras_snp.snp.solver`, `FineTune`
from `keras_snp.pruning`, `PruneSettings` from `keras_snp.pruning.stage`.
"""

import dataclasses

from keras_snp.constants import DEFAULT_THETA
from keras_snp.utils import check_at_least
from keras_snp.utils import check_one_of

READOUTS = ("flatten", "pooled")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")
SOLVERS = ("lbfgs", "stream", "lab")
CACHE_DTYPES = ("float16", "float32")
DEFAULT_VIEWS = 2
#: The pruning stage's layer scope (`keras_snp.pruning.scopes`).
DEFAULT_SCOPE = "all"


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Settings of the converged readout solver.

    Attributes:
        tolerance: converged when the whitened gradient norm is at most
            this fraction of its value at W = 0.
        refine_below: below this relative gradient the products switch
            from float32 to float64 (float32's rounding puts a floor near
            1e-4 under the relative gradient; float64 costs about 2x).
        max_passes: objective evaluations allowed (each one pass over the
            cached rows); the readout is flagged not converged beyond it.
        memory: L-BFGS history pairs.
        damping: `delta` as a multiple of the mean eigenvalue of G.
        gram_rows: rows sampled for G (None: all cached rows).
        max_gram_features: widest tap whitened by the full G; wider taps
            use its diagonal.
        block_rows: rows per block of the objective's matrix products.
    """

    tolerance: float = 1e-4
    max_passes: int = 1000
    refine_below: float = 1e-3
    memory: int = 20
    damping: float = 1.0
    gram_rows: int | None = 16384
    max_gram_features: int = 16384
    block_rows: int = 4096

    def validate(self):
        check_at_least("tolerance", self.tolerance, 0)
        check_at_least("max_passes", self.max_passes, 1)
        check_at_least("memory", self.memory, 1)
        check_at_least("damping", self.damping, 0)
        check_at_least("gram_rows", self.gram_rows, 1, none_ok=True)
        check_at_least("block_rows", self.block_rows, 1)
        return self


@dataclasses.dataclass(frozen=True)
class ReadoutConfig:
    """How the readouts are trained (METHOD.md section 2).

    Attributes:
        readout: `"flatten"` (tokens x nodes -> K) or `"pooled"` (mean over
            tokens, nodes -> K).
        solver: `"stream"` (default): the lab's objective, the
            expectation over the augmentation, by warm-started whitened
            L-BFGS steps on fresh views with averaging, converged on a
            held-out view (`keras_snp.snp.stream`). `"lbfgs"`: the frozen
            model runs forward once per augmented view (`views`), the
            features are cached and each readout is solved to the optimum
            of the mean over those views by whitened L-BFGS
            (`keras_snp.snp.solver`), with its convergence measured (fewer
            forwards; it fits its cached views). `"lab"`: the lab's
            protocol, streaming Nesterov SGD for `epochs` epochs with fresh
            augmentation every epoch.
        views: augmented views of the training split cached for `"lbfgs"`.
        stream_views: most fresh views `"stream"` takes per readout.
        stream_passes: L-BFGS passes per fresh view (`"stream"`).
        stream_tolerance: `"stream"` is converged when the held-out
            objective of the averaged readout changed by at most this
            fraction of `max(objective, ln K)` over its last 5 views, at 5
            consecutive views.
        tolerance: `"lbfgs"` is converged when the whitened gradient norm
            is at most this fraction of its value at zero weights.
        max_passes: objective evaluations allowed per readout (`"lbfgs"`
            and `"stream"`); a readout that needs more is reported as not
            converged (a low cap is a quick look).
        cache_dtype: `"float16"` (default) or `"float32"` feature cache.
        cache_memory_gb: cache held in memory up to this size, then spilled
            to files (removed afterwards); also the most a tap's solve
            holds as float32 (beyond it, float16 blocks cast per pass).
        epochs: passes over the training split (`"lab"`).
        learning_rate: initial SGD learning rate (`"lab"`).
        lr_decay: learning-rate factor applied after every epoch (`"lab"`).
        momentum: SGD momentum (Nesterov, `"lab"`).
        weight_decay: the L2 strength: the objective's `weight_decay / 2 *
            ||W||^2` for `"lbfgs"`; for `"lab"` applied as
            `weight_decay_mode` says.
        weight_decay_mode: `"coupled"` (default, the lab's: PyTorch SGD's
            L2, `weight_decay * w` added to the gradient before Nesterov
            momentum, `CoupledSGD`) or `"decoupled"` (Keras `SGD`'s
            `weight_decay`; about `1 / (1 - momentum)` times weaker).
        batch_size: images per frozen forward and per SGD step (input
            batches are re-cut to this size; None keeps them as given).
        flip: random horizontal flips of the training images.
        shift: random shifts of up to this many pixels (zero padding).
        scale: `"lab"` only: `"rms"` multiplies each node's activations by
            1 / (its RMS over `scale_batches` training batches) before the
            readout, which changes the L2 optimum (METHOD.md); None (the
            lab's): no scaling.
        scale_batches: batches used to measure the scale.
        seed: seed of the augmentation.
    """

    readout: str = "flatten"
    solver: str = "stream"
    views: int = DEFAULT_VIEWS
    stream_views: int = 120
    stream_passes: int = 2
    stream_tolerance: float = 1e-3
    tolerance: float = SolverConfig.tolerance
    max_passes: int = SolverConfig.max_passes
    cache_dtype: str = "float16"
    cache_memory_gb: float = 3.0
    epochs: int = 200
    learning_rate: float = 0.01
    lr_decay: float = 0.975
    momentum: float = 0.975
    weight_decay: float = 1e-3
    weight_decay_mode: str = "coupled"
    batch_size: int | None = 100
    flip: bool = True
    shift: int = 4
    scale: str | None = None
    scale_batches: int = 10
    seed: int = 0

    def validate(self):
        check_one_of("readout", self.readout, READOUTS)
        check_one_of("solver", self.solver, SOLVERS)
        check_at_least("views", self.views, 1)
        check_at_least("stream_views", self.stream_views, 1)
        check_at_least("stream_passes", self.stream_passes, 1)
        check_at_least("stream_tolerance", self.stream_tolerance, 0)
        check_at_least("tolerance", self.tolerance, 0)
        check_at_least("max_passes", self.max_passes, 1)
        check_one_of("cache_dtype", self.cache_dtype, CACHE_DTYPES)
        check_at_least("cache_memory_gb", self.cache_memory_gb, 0)
        check_at_least("epochs", self.epochs, 0)
        check_at_least("batch_size", self.batch_size, 1, none_ok=True)
        check_one_of(
            "weight_decay_mode", self.weight_decay_mode, WEIGHT_DECAY_MODES
        )
        check_at_least("weight_decay", self.weight_decay, 0)
        check_one_of("scale", self.scale, ("rms", None))
        if self.scale is not None and self.solver != "lab":
            raise ValueError(
                "`scale` applies to solver='lab' only: the L-BFGS solver "
                "solves the unscaled problem (its whitening is the "
                f"preconditioner). Received: scale={self.scale!r}, "
                f"solver={self.solver!r}"
            )
        check_at_least("shift", self.shift, 0)
        check_at_least("scale_batches", self.scale_batches, 1)
        return self

    def solver_config(self):
        """The `SolverConfig` of the `"lbfgs"` solver."""
        return SolverConfig(
            tolerance=self.tolerance, max_passes=self.max_passes
        )

    @property
    def cache_bytes(self):
        return int(self.cache_memory_gb * (1 << 30))


@dataclasses.dataclass(frozen=True)
class HeadsSettings:
    """Settings of the heads stage (METHOD.md section 3).

    Attributes:
        null_samples: shuffles of each encoder's null model (1,000: the
            smallest p is 1 / 1,001, so a Holm correction over a dozen
            encoders can still pass at 0.05).
        ablation: silence each head in the model and measure the
            per-label accuracy drop (the causal check).
        p_threshold: symmetry breaking is claimed when the null-model
            p-values, Holm-adjusted over the encoders, are below this.

    Example:
    >>> HeadsSettings().null_samples, HeadsSettings(ablation=False).ablation
    (1000, False)
    """

    null_samples: int = 1000
    ablation: bool = True
    p_threshold: float = 0.05


def default_fine_tune_epochs(train_epochs):
    """About a tenth of the training epochs, at least 1.

    Example:
    >>> default_fine_tune_epochs(10), default_fine_tune_epochs(300)
    (1, 30)
    """
    return max(1, round(int(train_epochs) / 10))


@dataclasses.dataclass(frozen=True)
class FineTune:
    """Settings of the fine-tune every compared row goes through.

    Attributes:
        epochs: passes over the training split (0: no fine-tune).
        recipe: recipe name (`"official"`, `"light"`, `"none"`), as in
            training; the data side (augmentation) is the training split's.
        learning_rate: peak rate (None: the recipe's).
        weight_decay: AdamW decay (None: the recipe's).
        warmup_epochs: the recipe's warm-up setting (None: its default).
        steps_per_epoch: batches per epoch (None: the whole split); a
            smaller number is a reduced budget, reported as such.
        seed: seed set before each fine-tune (same data order for all).
        device_crop: the official recipe's crop is drawn on the device;
            False where the training split already holds it (drawn on the
            host from the whole image, `DatasetInfo.whole_image_crop`).
    """

    epochs: int = 1
    recipe: str = "official"
    learning_rate: float | None = None
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    device_crop: bool = True

    def __post_init__(self):
        check_at_least("epochs", self.epochs, 0)
        check_at_least("steps_per_epoch", self.steps_per_epoch, 1, none_ok=True)


@dataclasses.dataclass(frozen=True)
class PruneSettings:
    """Settings of one pruning stage.

    Attributes:
        scope: layer scope (`keras_snp.pruning.andc.parse_scope`).
        theta: SNP threshold of the masks.
        fine_tune: the `FineTune` of every fine-tuned row.
        readout: the pruning SNP's readout settings (`compute_snp`
            keywords; default: `ReadoutConfig()`'s).
        structured_fraction: share of FF units and heads the structured
            variant removes per encoder; None: no structured row.
        seed: seed of the random control (and of the readouts).
        compress: write the pruned `.keras` deflated.

    Example:
    >>> PruneSettings(scope="readout+ff").theta == DEFAULT_THETA
    True
    """

    scope: str = DEFAULT_SCOPE
    theta: float = DEFAULT_THETA
    fine_tune: FineTune = FineTune()
    readout: dict = dataclasses.field(default_factory=dict)
    structured_fraction: float | None = None
    seed: int = 0
    compress: bool = True
