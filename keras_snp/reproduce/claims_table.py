"""The claims of one analysed run as table rows (claim, statistic, value
with its CI, verdict, the untrained control's verdict): the rows of the
opening tables of `docs/results/README.md` and of a sensitivity run."""

from keras_snp.reproduce.markdown import ci
from keras_snp.reproduce.markdown import fmt


def _counts(verdicts):
    values = list(verdicts.values())
    return f"{sum(v == 'reproduced' for v in values)}/{len(values)}"


def claim_rows(a):
    claims = a["claims"]
    control = a.get("untrained_control") or {}

    def control_of(key):
        claim = control.get(key)
        return claim["verdict"] if claim else "not measured"

    accuracy = claims["accuracy_depth"]
    pooled = accuracy["pooled"]
    seeds = accuracy.get("readout_seeds") or 1
    rows = [
        (
            "1. readout accuracy rises with depth",
            "Spearman rho with depth, mean over tap kinds"
            f" ({seeds if isinstance(seeds, int) else len(seeds)} "
            "readout seed(s))",
            f"{fmt(pooled['rho'], 3)} {ci(pooled['low'], pooled['high'], 3)}",
            accuracy["verdict"],
            "n/a",
        )
    ]
    clusters = claims["clusters_noise"]
    rows.append(
        (
            "2. small clusters; noise falls, SNR rises",
            "tap kinds whose depth-slope CI has the claimed sign: noise, "
            "`snr`, `snr_labels`; largest mean diagonal set / K",
            f"{_counts(clusters['noise_verdicts'])}, "
            f"{_counts(clusters['snr_verdicts'])}, "
            f"{_counts(clusters['snr_labels_verdicts'])}; "
            f"{fmt(clusters['max_diag_fraction'], 3)}",
            clusters["verdict"],
            control_of("clusters_noise"),
        )
    )
    pruning = claims["pruning"]
    if pruning:
        main = pruning["differences"][0]
        rows.append(
            (
                "3. ANDC keeps accuracy",
                f"`{main['a']}` - `{main['b']}` (margin "
                f"{pruning['margin']}), dilution "
                f"{fmt(pruning['dilution'], 3)}",
                f"{fmt(main['difference'])} {ci(main['low'], main['high'])}",
                pruning["verdict"],
                "n/a",
            )
        )
        rows.extend(_study_rows(pruning.get("fine_tune_study")))
    else:
        rows.append(("3. ANDC keeps accuracy", "—", "—", "not measured", "n/a"))
    heads = claims["heads"]
    if heads:
        encoders = heads["encoders"]
        breaking = sum(bool(e["symmetry_breaking"]) for e in encoders)
        positive = sum(v == "reproduced" for v in heads["contrast_verdicts"])
        rows.append(
            (
                "4. heads are label experts",
                "encoders with symmetry breaking (both nulls, Holm); "
                "with ablation-contrast CI > 0 "
                f"({encoders[0]['num_heads']} heads per encoder)",
                f"{breaking}/{len(encoders)}; {positive}/{len(encoders)}",
                heads["verdict"],
                control_of("heads"),
            )
        )
    return rows


def _study_rows(study):
    """Claim 3 at each fine-tune length of the fine-tune study: ANDC and
    the lab's classifier mask against `unpruned` (seed-averaged)."""
    if not study:
        return [
            (
                "3. at 1, 5, 20 fine-tune epochs",
                "seed bands (`prune.py --fine-tune-study`)",
                "—",
                "not measured",
                "n/a",
            )
        ]
    rows = []
    for r in study["rows"]:
        if r["row"] not in ("andc", "andc_lab_classifier") or not r.get(
            "difference"
        ):
            continue
        d = r["difference"]
        rows.append(
            (
                f"3. at {r['epochs']} fine-tune epoch(s)",
                f"`{r['row']}` - `unpruned`, mean of {len(r['seeds'])} "
                f"seeds ({study['level'] * 100:.1f}% CI, Bonferroni)",
                f"{fmt(d['difference'])} {ci(d['low'], d['high'])}",
                r["verdict"],
                "n/a",
            )
        )
    return rows
