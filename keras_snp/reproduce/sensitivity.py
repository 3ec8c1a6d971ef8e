"""Sensitivity runs: does a METHOD "(choice)" or a departure from the lab
move a verdict?

A run folder's claims 1, 2 and 4 rest on its SNP and its heads. A
sensitivity run measures both again on the run's trained model with one
setting changed (`theta=0.2`, `readout_solver=stream`, `readout_views=8`,
...), into `OUT/<change>/` (a folder that `analysis.analyze_run` reads like
a run folder: `run.json`, `snp/`, `heads/`), and tabulates each claim's
statistic and verdict beside the run's own:

    python scripts/sensitivity.py RUN_DIR --vary theta=0.2 \
        --vary readout_solver=stream --out OUT

Claim 3 (pruning and fine-tunes) is not redone: it needs the prune stage.
A change of `theta` alone reuses the run's fields (the readouts do not
depend on it) and redoes the clusters and the heads. Each change is
written to a staging folder and renamed when complete, so an interrupted
run resumes at the first change without a result.
"""

import dataclasses
import os
import shutil

from keras_snp.reproduce import analysis
from keras_snp.reproduce.claims_table import claim_rows
from keras_snp.run.folder import STAGE_SETTINGS
from keras_snp.utils import UsageError
from keras_snp.utils import read_json
from keras_snp.utils import write_json
from keras_snp.utils import write_text

#: The run settings a sensitivity run may change: those the snp and heads
#: stages ran with (changing training or pruning settings would need those
#: stages again), but their taps (the run's are measured) and `ablation`
#: (claim 4 rests on it).
VARIABLE = tuple(
    key
    for key in dict.fromkeys(STAGE_SETTINGS["snp"] + STAGE_SETTINGS["heads"])
    if key not in ("taps", "ablation")
)
#: Settings whose change leaves the readouts as they are.
FIELDS_KEPT_BY = ("theta", "null_samples")


def parse_change(text, config):
    """`"key=value"` -> `{key: value}`, the value typed as the run's own
    setting (`config`, a `RunConfig`)."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not value:
        raise UsageError(
            f"--vary {text!r}: write a setting and its value, e.g. "
            "--vary theta=0.2"
        )
    if key not in VARIABLE:
        raise UsageError(
            f"--vary {text!r}: {key!r} cannot be varied here; use one of "
            f"{', '.join(VARIABLE)}"
        )
    current = getattr(config, key)
    kind = type(current) if current is not None else str
    try:
        typed = kind(value)
    except ValueError as error:
        raise UsageError(
            f"--vary {text!r}: {key} takes a {kind.__name__} "
            f"(the run's is {current!r})"
        ) from error
    if typed == current:
        raise UsageError(
            f"--vary {text!r}: the run already has {key}={current!r}; "
            "give a different value"
        )
    return {key: typed}


def change_name(change):
    return ",".join(f"{k}={v}" for k, v in sorted(change.items()))


def _validate(config):
    from keras_snp.settings import ReadoutConfig
    from keras_snp.snp import clusters

    try:
        clusters.check_theta(config.theta)
        ReadoutConfig(**config.readout_settings()).validate()
        config.heads_settings()
    except ValueError as error:
        raise UsageError(f"--vary: {error}") from error


def run_change(run_dir, change, out_dir, verbose=1):
    """Measures the SNP and the heads of `run_dir`'s model with `change`
    applied to its settings, into `out_dir/<change>/`; returns that
    folder. A folder already complete is kept as it is."""
    from keras_snp.run.config import RunConfig

    state = read_json(os.path.join(run_dir, "run.json"))
    base = RunConfig.from_dict(state["config"])
    config = dataclasses.replace(base, **change, verbose=verbose)
    _validate(config)
    target = os.path.join(out_dir, change_name(change))
    if os.path.isfile(os.path.join(target, "run.json")):
        return target
    staging = target + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    _measure(run_dir, config, set(change) <= set(FIELDS_KEPT_BY), staging)
    stages = {
        k: v for k, v in state["stages"].items() if k in ("train", "export")
    }
    write_json(
        os.path.join(staging, "run.json"),
        {
            **state,
            "config": config.to_dict(),
            "stages": stages,
            "reproduce": None,
            "sensitivity": {"run": run_dir, "change": change},
        },
    )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def _measure(run_dir, config, keep_fields, out):
    import keras

    from keras_snp.run import pipeline
    from keras_snp.snp import SNPResult

    model_path = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(model_path):
        raise UsageError(
            f"{run_dir} holds no model.keras: give a run folder whose "
            "export stage is done."
        )
    model = keras.models.load_model(model_path)
    splits = pipeline.load_snp_data(config)
    label_names = splits.info.label_names
    logs = os.path.join(out, "logs")
    # the run's own taps (a CNN run's blocks, a run's --taps)
    taps = list(read_json(os.path.join(run_dir, "snp", "summary.json"))["taps"])
    if keep_fields:
        result = SNPResult.load(os.path.join(run_dir, "snp"))
        result = dataclasses.replace(result, theta=config.theta)
        result.save(os.path.join(out, "snp"))
        seeds = os.path.join(run_dir, "snp", "readout_seeds.json")
        if os.path.isfile(seeds):
            shutil.copy(seeds, os.path.join(out, "snp"))
    else:
        result = pipeline.measure_snp(
            model,
            splits.train,
            splits.test,
            config,
            label_names,
            os.path.join(out, "snp"),
            logs,
            taps=taps,
            validation=splits.validation,
        )
    if not any(t.kind == "mha" for t in result.taps.values()):
        return  # a CNN: no heads, no claim 4
    pipeline.measure_heads(
        model,
        result,
        splits.test,
        config,
        label_names,
        os.path.join(out, "heads"),
        logs,
    )


def compare(run_dir, changed_dirs, resamples=1000, seed=0):
    """The claims 1, 2 and 4 of `run_dir` (`run`) and of each sensitivity
    folder (`changes`), the claims whose verdict each change moved
    (`moved`) and the share of nodes per tap kind whose diagonal set it
    kept (`same_diagonal_sets`)."""
    base = analysis.analyze_run(run_dir, resamples=resamples, seed=seed)
    table = {
        "run_name": base["run_name"],
        "run": _claims(base),
        "changes": {},
        "moved": {},
        "same_diagonal_sets": {},
    }
    masks = diagonal_masks(run_dir)
    summary = read_json(os.path.join(run_dir, "snp", "summary.json"))
    kinds = {t: analysis.tap_kind(v) for t, v in summary["taps"].items()}
    for path in sorted(changed_dirs, key=os.path.basename):
        change = read_json(os.path.join(path, "run.json"))["sensitivity"]
        name = change_name(change["change"])
        a = analysis.analyze_run(path, resamples=resamples, seed=seed)
        claims = _claims(a)
        table["changes"][name] = claims
        table["same_diagonal_sets"][name] = same_diagonal_sets(
            masks, diagonal_masks(path), kinds
        )
        table["moved"][name] = [
            claim
            for claim, row in claims.items()
            if row["verdict"] != table["run"][claim]["verdict"]
        ]
    return table


def diagonal_masks(run_dir):
    """`{tap: (nodes, K) bool}` diagonal sets of a run folder (from its
    fields) or of its evidence (from `snp/nodes.npz`)."""
    import numpy as np

    from keras_snp.snp import clusters
    from keras_snp.utils import load_npz

    summary = read_json(os.path.join(run_dir, "snp", "summary.json"))
    fields = os.path.join(run_dir, "snp", "snp.npz")
    if os.path.isfile(fields):
        arrays = load_npz(fields)
        return {
            tap: clusters.diagonal_mask(arrays[f"{tap}.V"], summary["theta"])
            for tap in summary["taps"]
        }
    arrays = load_npz(os.path.join(run_dir, "snp", "nodes.npz"))
    K = summary["num_classes"]
    return {
        tap: np.unpackbits(arrays[f"{tap}.diag_mask"], axis=-1)[:, :K] > 0
        for tap in summary["taps"]
    }


def same_diagonal_sets(masks, other, kinds):
    """Per tap kind (`kinds`: tap -> `mha`, `ff`, `res`, ...): the fraction
    of the nodes whose diagonal set is the same in `other` as in `masks`."""
    import numpy as np

    same = {}
    for tap, mask in masks.items():
        equal = np.all(mask == other[tap], axis=-1)
        same.setdefault(kinds[tap], []).append(equal)
    return {k: float(np.concatenate(v).mean()) for k, v in same.items()}


def _claims(a):
    """claim -> {statistic, value, verdict} for claims 1, 2 and 4."""
    rows = {}
    for claim, statistic, value, verdict, _ in claim_rows(a):
        number = claim.split(".")[0]
        if number in ("1", "2", "4"):
            rows[claim] = {
                "statistic": statistic,
                "value": value,
                "verdict": verdict,
            }
    return rows


def render(table):
    lines = [
        f"# Sensitivity of `{table['run_name']}`",
        "",
        "Claims 1, 2 and 4 measured again on the run's trained model with "
        "one setting changed (`python scripts/sensitivity.py`); claim 3 is "
        "not redone. The statistic of each claim is the one of "
        "`docs/results/README.md`.",
        "",
        "| claim | setting | value (95% CI) | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for claim, row in table["run"].items():
        lines.append(
            f"| {claim} | the run's | {row['value']} | {row['verdict']} |"
        )
        for name, claims in table["changes"].items():
            other = claims.get(claim)
            if other is None:
                continue
            moved = " (moved)" if claim in table["moved"][name] else ""
            lines.append(
                f"| {claim} | `{name}` | {other['value']} | "
                f"{other['verdict']}{moved} |"
            )
    kinds = sorted({k for v in table["same_diagonal_sets"].values() for k in v})
    if kinds:
        lines += [
            "",
            "Nodes whose diagonal set is the run's (readout seed 0), by tap "
            "kind:",
            "",
            "| setting | " + " | ".join(f"`{k}`" for k in kinds) + " |",
            "| --- |" + " --- |" * len(kinds),
        ]
        for name, same in table["same_diagonal_sets"].items():
            cells = [f"{same[k]:.3f}" if k in same else "—" for k in kinds]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "Statistics (the same for every setting):", ""]
    lines += [f"- {c}: {r['statistic']}" for c, r in table["run"].items()]
    lines += [
        "",
        "Published with `--publish PATH.md`, the table is computed from the "
        "evidence in the folder `PATH/` (per-node statistics, heads' "
        "reports), and `python scripts/sensitivity.py --rebuild PATH` "
        "computes it again from there, without a model or data.",
    ]
    return "\n".join(lines) + "\n"


def sensitivity(
    run_dir, changes, out_dir, verbose=1, resamples=1000, publish=None
):
    """Runs every change of `changes` (dictionaries) on `run_dir`, then
    writes `out_dir/SENSITIVITY.md` and `sensitivity.json`; returns the
    table. `publish`: a `.md` path that also gets the table, computed from
    the evidence written beside it (`publish_evidence`)."""
    if not os.path.isfile(os.path.join(run_dir, "run.json")):
        raise UsageError(f"{run_dir} holds no run.json: give a run folder.")
    if publish is not None and not publish.endswith(".md"):
        raise UsageError(f"--publish {publish!r}: give a path ending in .md")
    os.makedirs(out_dir, exist_ok=True)
    done = [run_change(run_dir, c, out_dir, verbose) for c in changes]
    table = compare(run_dir, done, resamples=resamples)
    write_json(os.path.join(out_dir, "sensitivity.json"), table)
    write_text(os.path.join(out_dir, "SENSITIVITY.md"), render(table))
    if publish is not None:
        evidence_dir = publish_evidence(run_dir, done, publish[: -len(".md")])
        table = rebuild(evidence_dir, publish, resamples=resamples)
    return table


def publish_evidence(run_dir, changed_dirs, out_dir):
    """The evidence of a sensitivity table (no model, no data): `run/`,
    what claims 1, 2 and 4 of `run_dir` rest on, and one folder per change
    (`evidence.write_evidence`: per-node statistics instead of fields)."""
    from keras_snp.reproduce import evidence

    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, "run")
    shutil.rmtree(base, ignore_errors=True)
    evidence.write_evidence(run_dir, base)
    for part in ("pruned", "control"):  # not what claims 1, 2 and 4 read
        shutil.rmtree(os.path.join(base, part), ignore_errors=True)
    for path in changed_dirs:
        target = os.path.join(out_dir, os.path.basename(path))
        shutil.rmtree(target, ignore_errors=True)
        evidence.write_evidence(path, target)
    return out_dir


def rebuild(evidence_dir, out_md=None, resamples=1000):
    """The table of a published sensitivity run, from its evidence
    (`publish_evidence`); written to `out_md` when given."""
    base = os.path.join(evidence_dir, "run")
    if not os.path.isfile(os.path.join(base, "run.json")):
        raise UsageError(
            f"{evidence_dir} holds no run/run.json: give the folder "
            "beside a published sensitivity table."
        )
    changed = sorted(
        os.path.join(evidence_dir, name)
        for name in os.listdir(evidence_dir)
        if name != "run"
        and os.path.isfile(os.path.join(evidence_dir, name, "run.json"))
    )
    table = compare(base, changed, resamples=resamples)
    if out_md is not None:
        write_text(out_md, render(table))
    return table
