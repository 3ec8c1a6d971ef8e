"""`analyze` (SNP + heads of any saved model) and `prune` (ANDC on a run)."""

import argparse
import dataclasses
import os

from keras_snp.cli import _add_common
from keras_snp.cli import _setup_logging
from keras_snp.utils import UsageError


def analyze_parser():
    parser = argparse.ArgumentParser(
        prog="analyze.py",
        description="SNP and per-head label-expert reports of a saved "
                    "model: writes OUT/snp/ and OUT/heads/.",
    )
    parser.add_argument("model", help="a .keras file written by keras_snp")
    _add_common(parser)
    parser.add_argument("--out", help="output folder (default: the model's "
                                      "folder)")
    parser.add_argument("--taps", nargs="+",
                        help="layer names to measure (default: every "
                             "encoder's mha, ff_hidden and out)")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow models that need safe_mode=False")
    return parser


def check_model_matches(model, info, image_size=None):
    """Refuses a model whose class count or input size differs."""
    classes = model.output_shape[-1]
    if classes != info.num_classes:
        raise UsageError(
            f"The dataset has {info.num_classes} classes but the model "
            f"predicts {classes}: give the dataset the model was trained on."
        )
    if image_size and tuple(model.input_shape[1:3]) != (image_size,) * 2:
        raise UsageError(
            f"The model takes {model.input_shape[1]} px images, not "
            f"{image_size}: drop --image-size or set it to "
            f"{model.input_shape[1]}."
        )


def check_taps(model, taps):
    names = {layer.name for layer in model.layers}
    if taps is None:
        from keras_snp.models import num_encoders

        if num_encoders(model) == 0:
            raise UsageError(
                f"{model.name} is not a keras_snp CCT (no encoder_1_out "
                "layer): pass --taps with the layer names to measure."
            )
        return
    missing = [t for t in taps if t not in names]
    if missing:
        raise UsageError(
            f"The model has no layer(s) {missing}: choose --taps among "
            f"{sorted(names)[:12]}..."
        )


def analyze_main(argv=None):
    args = analyze_parser().parse_args(argv)
    _setup_logging(args.verbose)
    if not 0 < args.theta < 1:
        raise UsageError(f"--theta must be in (0, 1), got {args.theta}.")
    from keras_snp import data as data_lib
    from keras_snp import export as export_lib
    from keras_snp.heads import analyze_heads
    from keras_snp.heads import write_heads_report
    from keras_snp.snp import compute_snp
    from keras_snp.snp import log_snp

    model = export_lib.load_model(args.model, safe_mode=not args.unsafe)
    check_taps(model, args.taps)
    image_size = args.image_size or model.input_shape[1]
    splits = data_lib.load(
        args.dataset, image_size, 100, recipe="none", seed=args.seed,
        data_dir=args.data_dir, download=args.download,
        **_synthetic_kwargs(args),
    )
    check_model_matches(model, splits.info, image_size)
    out = args.out or os.path.dirname(os.path.abspath(args.model))
    result = compute_snp(
        model, splits.train, splits.test, taps=args.taps, theta=args.theta,
        readout=args.readout, epochs=args.snp_epochs,
        label_names=splits.info.label_names, verbose=args.verbose,
    )
    result.save(os.path.join(out, "snp"), save_readouts=args.save_readouts)
    log_snp(result, os.path.join(out, "logs", "snp"), step=0)
    if any(t.kind == "mha" for t in result.taps.values()):
        report = analyze_heads(
            result, model, splits.test, null_samples=args.null_samples,
            seed=args.seed, ablation=args.ablation,
            label_names=splits.info.label_names,
        )
        write_heads_report(report, os.path.join(out, "heads"),
                           log_dir=os.path.join(out, "logs", "heads"))
    print(f"analysis written to {out}")
    return 0


def _synthetic_kwargs(args):
    kwargs = {}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if args.examples_per_class is not None:
        kwargs["examples_per_class"] = args.examples_per_class
    return kwargs


def prune_parser():
    parser = argparse.ArgumentParser(
        prog="prune.py",
        description="ANDC pruning of a finished run from its SNP results: "
                    "writes RUN_DIR/pruned/.",
    )
    parser.add_argument("run_dir", help="a run folder with model.keras and "
                                        "snp/")
    parser.add_argument("--scope", choices=("readout", "internal", "all"))
    parser.add_argument("--theta", type=float)
    parser.add_argument("--fine-tune-epochs", type=int)
    parser.add_argument("--unsafe", action="store_true",
                        help="allow models that need safe_mode=False")
    parser.add_argument("--quiet", dest="verbose", action="store_const",
                        const=0, default=1)
    return parser


def prune_main(argv=None):
    args = prune_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from keras_snp import export as export_lib
    from keras_snp.run import pipeline
    from keras_snp.run.config import RunConfig
    from keras_snp.run.folder import RunFolder
    from keras_snp.utils import read_json

    run_json = os.path.join(args.run_dir, "run.json")
    for needed in (run_json, os.path.join(args.run_dir, "snp", "snp.npz")):
        if not os.path.exists(needed):
            raise UsageError(
                f"{args.run_dir} has no {os.path.basename(needed)}: run "
                "scripts/train.py (with the snp stage) first."
            )
    state = read_json(run_json)
    fields = RunConfig.__dataclass_fields__
    config = RunConfig(**{k: v for k, v in state["config"].items()
                          if k in fields})
    overrides = {"prune_scope": args.scope, "theta": args.theta,
                 "fine_tune_epochs": args.fine_tune_epochs}
    config = dataclasses.replace(
        config, **{k: v for k, v in overrides.items() if v is not None})
    config = pipeline.resolve_config(config)
    model = export_lib.load_model(os.path.join(args.run_dir, "model.keras"),
                                  safe_mode=not args.unsafe)
    splits = pipeline.load_data(config)
    from keras_snp.training import strategy as strategy_lib

    folder = RunFolder(args.run_dir, state)
    ctx = pipeline.Context(config, folder, strategy_lib.Placement(
        "single", 1, ["default"]), splits, model)
    pipeline.run_stages(ctx, ("prune",), redo=("prune",))
    print(f"pruned model written to {os.path.join(args.run_dir, 'pruned')}")
    return 0
