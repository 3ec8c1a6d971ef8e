"""`keras-snp analyze` (`scripts/analyze.py`): SNP and head reports of
any saved model."""

import os

from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_common_options
from keras_snp.cli.common import check_data
from keras_snp.cli.common import check_writable
from keras_snp.cli.common import start
from keras_snp.run.summary import print_summary
from keras_snp.utils import UsageError


def analyze_parser():
    parser = Parser(
        "analyze",
        description="SNP and per-head label-expert reports of a saved "
        "model: writes OUT/snp/, OUT/heads/ and the browsable OUT/pages/.",
    )
    parser.add_argument(
        "model",
        help="a .keras file: a keras_snp CCT, a model of attention blocks "
        "(keras.layers.MultiHeadAttention), or a CNN",
    )
    add_common_options(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: the model's folder)",
    )
    parser.add_argument(
        "--taps",
        nargs="+",
        metavar="LAYER",
        help="layer or site names to measure (default: every site the "
        "model's adapter finds: a CCT's mha, ff_hidden and out per "
        "encoder; the heads, MLP and output of each attention block; "
        "every Conv2D of a CNN)",
    )
    parser.add_argument(
        "--no-pages",
        action="store_true",
        help="do not write OUT/pages/ (a page per node, head and encoder; "
        "one extra pass over the test split plus two per silenced node)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="allow models that need safe_mode=False",
    )
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
    """Refuses taps the model does not have; with none given, a model that
    no adapter reads (a keras_snp CCT, attention blocks, a CNN)."""
    from keras_snp.sites import find_sites

    try:
        sites = [site.name for site in find_sites(model)]
    except ValueError as error:
        if taps is None:
            raise UsageError(
                f"{error} On the command line: pass --taps LAYER ..."
            ) from None
        sites = []
    if taps is None:
        return
    names = {layer.name for layer in model.layers}
    missing = [t for t in taps if t not in names and t not in sites]
    if missing:
        choices = sites or sorted(names)
        raise UsageError(
            f"The model has no layer or site {missing}: choose --taps among "
            f"{', '.join(choices[:12])}{' ...' if len(choices) > 12 else ''}"
        )


def analyze_main(argv=None):
    args = analyze_parser().parse_args(argv)
    if not os.path.isfile(args.model):
        raise UsageError(
            f"No model file {args.model}: give the path of a "
            ".keras file (e.g. saved_models/RUN/model.keras)."
        )
    check_data(args)
    out = args.out or os.path.dirname(os.path.abspath(args.model))
    check_writable(out, "--out")
    start(args.verbose)
    from keras_snp import data as data_lib
    from keras_snp.cli.train import config_from_args
    from keras_snp.run import export as export_lib
    from keras_snp.run import pipeline

    model = export_lib.load_model(args.model, safe_mode=not args.unsafe)
    check_taps(model, args.taps)
    image_size = args.image_size or model.input_shape[1]
    config = config_from_args(args)
    splits = data_lib.load(
        args.dataset,
        image_size,
        pipeline.SNP_BATCH_SIZE,
        recipe="none",
        seed=args.seed,
        **pipeline.source_kwargs(config),
    )
    check_model_matches(model, splits.info, image_size)
    names = splits.info.label_names
    result = pipeline.measure_snp(
        model,
        splits.train,
        splits.test,
        config,
        names,
        os.path.join(out, "snp"),
        os.path.join(out, "logs", "snp"),
        taps=args.taps,
    )
    if any(t.kind == "mha" for t in result.taps.values()):
        pipeline.measure_heads(
            model,
            result,
            splits.test,
            config,
            names,
            os.path.join(out, "heads"),
            os.path.join(out, "logs", "heads"),
        )
    if not args.no_pages:
        from keras_snp.pages import build_pages

        info, _ = build_pages(
            out,
            model,
            splits.test,
            snp_result=result,
            run_state={
                "run_name": os.path.basename(args.model),
                "config": {"dataset": args.dataset},
                "model": {"variant": model.name},
            },
            verbose=args.verbose,
        )
    print_summary(out)
    if not args.no_pages:
        print(f"pages: {os.path.abspath(info['index'])}")
    return 0
