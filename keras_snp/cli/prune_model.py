"""`keras-snp prune MODEL.keras --dataset ...`: ANDC of a saved model of
any adapter, against its controls, into `OUT/`."""

import os

from keras_snp.utils import UsageError


def add_model_options(parser):
    from keras_snp.pruning.scopes import METHODS

    group = parser.add_argument_group(
        "a saved model instead of a run folder (RUN_DIR is then a .keras)"
    )
    group.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: a `pruned` folder beside the model)",
    )
    group.add_argument(
        "--methods",
        default=",".join(METHODS),
        metavar="M1,M2",
        help="ANDC and the controls at its sparsity",
    )


def prune_saved_model(args):
    """SNP of every prunable layer's two ends on the validation split,
    ANDC and its controls with the same fine-tune, scored on test; writes
    `OUT/{andc,random,...}.keras`, `OUT/masks.npz` and `OUT/pruning.json`.
    """
    from keras_snp.cli.analyze import check_model_matches
    from keras_snp.cli.common import check_data
    from keras_snp.cli.common import check_writable
    from keras_snp.cli.common import start
    from keras_snp.pruning.scopes import METHODS

    if not os.path.isfile(args.run_dir):
        raise UsageError(f"No model file {args.run_dir}: give a .keras file.")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise UsageError(
            f"Unknown --methods {unknown or methods}: choose among "
            f"{', '.join(METHODS)}."
        )
    if args.dataset is None:
        raise UsageError(
            "A saved model needs --dataset: the data it was trained on."
        )
    check_data(args)
    out = args.out or os.path.join(
        os.path.dirname(os.path.abspath(args.run_dir)), "pruned"
    )
    check_writable(out, "--out")
    start(args.verbose)
    _prune(args, methods, out, check_model_matches)
    print(f"pruned models, masks and pruning.json in {out}")
    return 0


def _prune(args, methods, out, check_model_matches):
    import numpy as np

    from keras_snp import data as data_lib
    from keras_snp.constants import DEFAULT_THETA
    from keras_snp.pruning.any_compare import compare
    from keras_snp.pruning.any_model import connection_sites
    from keras_snp.pruning.any_model import connections
    from keras_snp.run import export as export_lib
    from keras_snp.run.pipeline import SNP_BATCH_SIZE
    from keras_snp.run.pipeline import source_kwargs
    from keras_snp.snp import compute_snp
    from keras_snp.utils import atomic_path
    from keras_snp.utils import write_json

    model = export_lib.load_model(args.run_dir, safe_mode=not args.unsafe)
    image_size = args.image_size or model.input_shape[1]
    splits = data_lib.load(
        args.dataset,
        image_size,
        SNP_BATCH_SIZE,
        recipe="none",
        seed=args.seed,
        **source_kwargs(args),  # the data flags, named as in RunConfig
    )
    check_model_matches(model, splits.info, image_size)
    try:
        conns = connections(model)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not conns:
        raise UsageError(
            f"{model.name} has no Dense, Conv2D or attention layer to prune."
        )
    # masks are chosen on validation data, never on test
    sets = compute_snp(
        model,
        splits.train,
        splits.validation,
        taps=connection_sites(conns),
        theta=args.theta or DEFAULT_THETA,
        verbose=0,
    )
    result, pruned = compare(
        model,
        sets,
        splits.train,
        splits.test,
        fine_tune_epochs=args.fine_tune_epochs or 0,
        methods=methods,
        seed=args.seed,
    )
    os.makedirs(out, exist_ok=True)
    for method, p in pruned.items():
        with atomic_path(os.path.join(out, f"{method}.keras")) as path:
            p.model.save(path)
    with atomic_path(os.path.join(out, "masks.npz")) as path:
        with open(path, "wb") as f:
            np.savez(f, **pruned[methods[0]].masks)
    write_json(
        os.path.join(out, "pruning.json"),
        {
            **result.to_dict(),
            "model": os.path.abspath(args.run_dir),
            "layers": [c.layer for c in pruned[methods[0]].connections],
        },
    )
    for method, acc in result.methods.items():
        print(f"{method:>10}: test accuracy {acc:.4f}")
    print(
        f"  unpruned: test accuracy {result.unpruned:.4f}; "
        f"{result.dilution:.1%} of the connections removed"
    )
