"""Claim 3 of the reproduction report: ANDC against its controls, the
sweep points, the per-layer sensitivity, file sizes and speed."""

from keras_snp.reproduce.fine_tune_analysis import study_lines
from keras_snp.reproduce.markdown import ci
from keras_snp.reproduce.markdown import fmt


def _mib(value):
    return "n/a" if value is None else f"{value / 2**20:.2f} MiB"


def _tune_line(tune):
    """The fine-tune in words; the schedule as run when the stage kept
    its record (warm-up shortened to a tenth of a short fine-tune)."""
    steps = tune.get("steps_per_epoch")
    record = tune.get("record") or {}
    schedule = {}
    try:
        schedule = record["optimizer"]["config"]["learning_rate"]["config"]
    except (KeyError, TypeError):
        pass
    if record.get("steps") and schedule:
        warmup = (
            f"{record['steps']} steps: warm-up "
            f"{schedule.get('warmup_steps')} steps, then cosine over "
            f"{schedule.get('decay_steps')}"
        )
    else:
        warmup = f"warm-up {tune.get('warmup_epochs')} epoch(s), then cosine"
    smoothing = (record.get("recipe") or {}).get("label_smoothing")
    return (
        f"{tune.get('epochs')} epoch(s)"
        + (f" of at most {steps} steps" if steps else "")
        + f" of the training recipe `{tune.get('recipe')}` (AdamW, "
        f"peak lr {tune.get('learning_rate')}, weight decay "
        f"{tune.get('weight_decay')} with the training exclusions, "
        f"{warmup}"
        + (f", label smoothing {smoothing}" if smoothing is not None else "")
        + ")"
    )


def _difference_rows(differences):
    lines = ["| difference | value | 95% CI |", "| --- | --- | --- |"]
    for d in differences:
        lines.append(
            f"| {d['a']} - {d['b']} | {fmt(d['difference'])} "
            f"| {ci(d['low'], d['high'])} |"
        )
    return lines


def _scope_rows(c):
    """ANDC vs unpruned_fine_tuned per scope: the stage's paired row, then
    the sweep's points."""
    lines = [
        "| scope | theta | dilution | ANDC | random | magnitude | "
        "ANDC - unpruned_fine_tuned | 95% CI | non-inferior (1 pt) | "
        "ANDC - magnitude (95% CI) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    stage = {
        d["b"]: d
        for d in c.get("differences", [])
        if d["a"] == "andc_fine_tuned"
    }
    acc = {r["name"]: r["accuracy"] for r in c["table"]}
    main = c.get("main")
    if main:
        lines.append(
            f"| {c['scope']} (stage, paired) | {c.get('theta')} | "
            f"{fmt(c['dilution'])} | {fmt(acc.get('andc_fine_tuned'))} | "
            f"{fmt(acc.get('random_fine_tuned'))} | "
            f"{fmt(acc.get('magnitude_fine_tuned'))} | "
            f"{fmt(main['difference'])} | "
            f"{ci(main['low'], main['high'])} | {c['verdict']} | "
            f"{_against(stage.get('magnitude_fine_tuned'))} |"
        )
    sweep = c.get("sweep")
    if sweep:
        points = {}
        for r in sweep["rows"]:
            points.setdefault((r["scope"], r["theta"]), {})[r["method"]] = r
        for (scope, theta), m in points.items():
            a = m.get("andc", {})
            lines.append(
                f"| {scope} (sweep) | {theta} | "
                f"{fmt(a.get('dilution'))} | {fmt(a.get('accuracy'))} | "
                f"{fmt(m.get('random', {}).get('accuracy'))} | "
                f"{fmt(m.get('magnitude', {}).get('accuracy'))} | "
                f"{fmt(a.get('difference'))} | "
                f"{ci(a.get('low'), a.get('high'))} | "
                f"{a.get('verdict', 'n/a')} | "
                f"{_against((a.get('controls') or {}).get('magnitude'))} |"
            )
    return lines


def _against(d):
    """A difference with its CI in one cell, or n/a."""
    if not d:
        return "n/a"
    return f"{fmt(d['difference'])} {ci(d['low'], d['high'])}"


def _holds(c):
    """The sentence on the dilution at which ANDC holds, per scope."""
    parts = []
    if c.get("main"):
        parts.append(
            f"scope `{c['scope']}` at theta {c.get('theta')} "
            f"(dilution {fmt(c['dilution'], 3)}): "
            f"{c['verdict']}"
        )
    sweep = c.get("sweep")
    for scope, s in ((sweep or {}).get("scopes") or {}).items():
        parts.append(
            f"sweep, scope `{scope}`: "
            + (
                f"non-inferior up to dilution {fmt(s['holds_up_to'], 3)}"
                if s["holds_up_to"] is not None
                else f"non-inferior at none of its {s['points']} point(s)"
            )
        )
    if not parts:
        return []
    return [
        "Where ANDC holds (ANDC after fine-tune non-inferior to "
        "`unpruned_fine_tuned`, margin 1 point): " + "; ".join(parts) + "."
    ]


def _sizes(c):
    sizes = c.get("sizes")
    if not sizes:
        return []
    lines = [
        "File sizes (no optimizer state in either model; deflated = a "
        "level-9 zip of the file or folder):",
        "",
        "| model | .keras as written | .keras deflated | SavedModel "
        "| SavedModel deflated |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("unpruned", "pruned", "structured"):
        row = sizes.get(name)
        if not row:
            continue
        lines.append(
            f"| {name} | {_mib(row.get('keras_bytes'))} | "
            f"{_mib(row.get('keras_deflated_bytes'))} | "
            f"{_mib(row.get('saved_model_bytes'))} | "
            f"{_mib(row.get('saved_model_deflated_bytes'))} |"
        )
    ratio = sizes.get("pruned_over_unpruned") or {}
    if ratio:
        lines += [
            "",
            "Pruned over unpruned, deflated: "
            + ", ".join(
                f"{k.replace('_deflated_bytes', '')} {fmt(v, 3)}"
                for k, v in ratio.items()
            )
            + " (issue 12 target: <= 0.6).",
        ]
    lines += _size_floor(c)
    return lines


def _size_floor(c, target=0.6):
    """Lossless storage keeps every non-zero weight: the pruned file can
    shrink no further than the share of parameters left non-zero."""
    p, prunable = c.get("params") or {}, c.get("prunable_connections")
    if not p.get("nonzero_after_masking") or not prunable:
        return []
    before = p["before"]
    floor = p["nonzero_after_masking"] / before
    needed = (before - target * before) / prunable
    return [
        "",
        f"Lossless floor: {p['nonzero_after_masking']} of {before} "
        f"parameters stay non-zero ({fmt(floor, 3)}); the scopes hold "
        f"{prunable} of them ({fmt(prunable / before, 3)}), so a file "
        f"<= {target} of the unpruned needs a dilution of at least "
        f"{fmt(needed, 3)}"
        + (" (more than the scopes hold)." if needed > 1 else "."),
    ]


def _speed(c):
    bench = c.get("bench")
    if not bench:
        return [
            "Inference speed: not measured (no `pruned/bench.json`; "
            "`scripts/bench_pruned.py --run-dir RUN`)."
        ]
    lines = [
        f"Inference (`scripts/bench_pruned.py --run-dir`, backend "
        f"{bench.get('backend')}, batch {bench.get('batch_size')}, "
        "best of 3 rounds, shared 2-core CPU: ratios are rough):",
        "",
        "| model | images/s | x unpruned | parameters | FLOPs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in bench.items():
        if isinstance(row, dict) and "images_per_s" in row:
            lines.append(
                f"| {name} | {row['images_per_s']:.1f} | "
                f"{fmt(row['speed_ratio'], 3)} | {row['params']} "
                f"| {row['flops']} |"
            )
    return lines


def _sensitivity(c):
    table = c.get("sensitivity")
    if not table or not table.get("rows"):
        return []
    lines = [
        f"Per-layer sensitivity (one layer masked with its ANDC mask "
        f"at theta {table.get('theta')}, no fine-tune; unpruned "
        f"{fmt(table.get('unpruned'))}):",
        "",
        "| layer | scope | dilution | accuracy | drop |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table["rows"]:
        lines.append(
            f"| {r['layer']} | {r['scope']} | "
            f"{fmt(r['dilution'], 3)} | {fmt(r['accuracy'])} | "
            f"{fmt(r['drop'])} |"
        )
    return lines


def _pruned_snp(c):
    """The SNP (and head experts) of the pruned model beside the
    unpruned one's."""
    p = c.get("pruned_snp")
    if not p:
        return []
    lines = [
        "SNP of the pruned model (`pruned/snp`) beside the unpruned "
        "model's (`snp`), same readouts and data:",
        "",
        "| tap | readout accuracy | snr | mean clusters |",
        "| --- | --- | --- | --- |",
    ]
    digits = {"readout_accuracy": 4, "snr": 4, "mean_clusters": 2}
    for r in p["rows"]:
        cells = [
            f"{fmt(r[f'{field}_before'], n)} -> {fmt(r[f'{field}_after'], n)}"
            for field, n in digits.items()
        ]
        lines.append(f"| {r['tap']} | {' | '.join(cells)} |")
    heads = p.get("symmetry_breaking") or {}
    if "before" in heads and "after" in heads:
        lines += [
            "",
            "Encoders whose heads break symmetry (`heads`, "
            f"`pruned/heads`): {sum(heads['before'])} of "
            f"{len(heads['before'])} before pruning, {sum(heads['after'])} "
            f"of {len(heads['after'])} after.",
        ]
    return lines


def claim_pruning(c):
    if c is None:
        return ["Not measured (no `pruned/pruning.json`)."]
    lines = [
        "| model | accuracy | sparsity | what |",
        "| --- | --- | --- | --- |",
    ]
    for row in c["table"]:
        lines.append(
            f"| {row['name']} | {fmt(row['accuracy'])} | "
            f"{fmt(row['sparsity'])} | {row['description']} |"
        )
    p = c["params"]
    tune = c.get("fine_tune") or {}
    lines += [
        "",
        f"Scope `{c.get('scope')}`, theta {c.get('theta')}; "
        f"masks from SNP on the `{c.get('masks_from', 'test')}` "
        f"split, every accuracy on `{c.get('scored_on', 'test')}`. "
        f"Every fine-tuned row: {_tune_line(tune)}, masks held; "
        "identical settings for all rows: "
        f"{tune.get('identical_for_all_rows', 'n/a')}. Random "
        f"control: {c.get('random_control', 'n/a')}.",
        "",
    ]
    by_scope = c.get("dilution_by_scope") or {}
    lines.append(
        "Dilution (share of the scope's connections cut): "
        + (
            ", ".join(f"{k} {fmt(v, 3)}" for k, v in by_scope.items())
            if by_scope
            else fmt(c["dilution"])
        )
        + f"; parameters {p['before']} -> "
        f"{p['after']} after shrinking dead units "
        f"({p['nonzero_after_masking']} non-zero after masking)."
    )
    lines.append("")
    if c["differences"]:
        lines += [
            "Paired differences (95% CI: bootstrap over the same "
            "test images; non-inferiority margin "
            f"{c['margin']}; claim 3 is the first row):",
            "",
            *_difference_rows(c["differences"]),
        ]
    else:
        lines.append("No `pruned/predictions.npz`: accuracies without CI.")
    lines += [
        "",
        "ANDC against `unpruned_fine_tuned` per scope (sweep "
        "points: every method fine-tuned as above"
        + (
            ""
            if not c.get("sweep") or c["sweep"]["same_fine_tune"]
            else ", BUT with other fine-tune settings than the stage"
        )
        + "; CI: "
        + (
            "paired bootstrap over the same test images"
            if (c.get("sweep") or {}).get("paired")
            else "unpaired normal interval of two proportions where the "
            "sweep kept no per-image hits"
        )
        + "):",
        "",
        *_scope_rows(c),
        "",
    ]
    lines += _holds(c)
    if c.get("why"):
        lines += ["", f"Verdict inconclusive: {c['why']}."]
    parts = (
        study_lines(c.get("fine_tune_study")),
        _sensitivity(c),
        _pruned_snp(c),
        _sizes(c),
        _speed(c),
    )
    for part in parts:
        if part:
            lines += ["", *part]
    structured = c.get("structured")
    if structured:
        lines += [
            "",
            f"Structured variant (ours, beyond the paper): "
            f"fraction {structured.get('fraction')}, parameters "
            f"after {structured.get('params_after')}, FLOPs after "
            f"{structured.get('flops_after')}.",
        ]
    return lines
