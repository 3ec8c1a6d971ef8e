"""`keras_snp.analyze`: SNP of every site of a model the user built, and
its heads' label experts, in one call."""

import dataclasses
import os

from keras_snp.heads.analysis import analyze_heads
from keras_snp.heads.report import write_heads_report
from keras_snp.settings import HeadsSettings
from keras_snp.snp.engine import compute_snp


@dataclasses.dataclass
class Analysis:
    """What `analyze` measured.

    Attributes:
        snp: the `SNPResult` of every site.
        heads: the `HeadsReport`, or None when no site has heads.
    """

    snp: object
    heads: object = None

    def save(self, directory):
        """Writes `directory/snp/` and, with heads, `directory/heads/`."""
        self.snp.save(os.path.join(directory, "snp"))
        if self.heads is not None:
            write_heads_report(self.heads, os.path.join(directory, "heads"))
        return directory


def analyze(
    model,
    train_data,
    test_data,
    *,
    taps=None,
    label_names=None,
    heads=True,
    null_samples=HeadsSettings.null_samples,
    ablation=HeadsSettings.ablation,
    seed=0,
    verbose=0,
    **readout_settings,
):
    """SNP of every site of `model` and, where the sites have heads, which
    labels each head is expert in (METHOD.md sections 2 and 3).

    Args:
        model: a trained single-input Keras model that an adapter reads
            (`keras_snp.sites.find_sites`), or any model with `taps`.
        train_data: re-iterable `(images, labels)` batches for the
            readouts (labels int or one-hot).
        test_data: the same, for the statistics and the causal check.
        taps: site or layer names, `Site`s, or None for every site.
        label_names: K names for the reports.
        heads: measure the head experts where sites have heads.
        null_samples: shuffles of the heads' null model.
        ablation: silence each head in the model (per-label accuracy drop).
        seed: seed of the readouts' augmentation and of the null model.
        verbose: 0 silent; 1 progress bars.
        **readout_settings: `ReadoutConfig` fields (`views`, `flip`,
            `shift`, `tolerance`, ...).

    Returns:
        An `Analysis` (`.snp`, `.heads`; `.save(folder)`).
    """
    snp = compute_snp(
        model,
        train_data,
        test_data,
        taps=taps,
        label_names=label_names,
        seed=seed,
        verbose=verbose,
        **readout_settings,
    )
    report = None
    if heads and any(
        t.kind == "mha" and (t.head >= 0).any() for t in snp.taps.values()
    ):
        report = analyze_heads(
            snp,
            model,
            test_data,
            null_samples=null_samples,
            seed=seed,
            ablation=ablation,
            label_names=label_names,
        )
    return Analysis(snp, report)
