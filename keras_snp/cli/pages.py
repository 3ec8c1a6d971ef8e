"""`keras-snp pages` (`scripts/pages.py`): the browsable pages of a
finished run.

    keras-snp pages RUN_DIR                    # model + test split reloaded
    keras-snp pages RUN_DIR --ablation-nodes 8 # silence more nodes
    keras-snp pages RUN_DIR --no-model         # SNP and heads only, fast

Writes `RUN_DIR/pages/` (open `index.html` in any browser; no server, no
network) and records the stage in run.json, as `train.py`'s `pages` stage
does.
"""

import os

from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_quiet_option
from keras_snp.cli.common import check_writable
from keras_snp.cli.common import non_negative_int
from keras_snp.cli.common import positive_int
from keras_snp.pages.settings import PAGES_DIR
from keras_snp.pages.settings import PagesSettings
from keras_snp.utils import UsageError


def pages_parser():
    parser = Parser(
        "pages",
        description="A static site of what each node, head and encoder of a "
        "run learned: writes RUN_DIR/pages/ (open index.html in a browser).",
    )
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run folder with run.json and snp/ (heads/ and pruned/ are "
        "shown where present)",
    )
    parser.add_argument(
        "--top-k",
        type=positive_int,
        default=PagesSettings.top_k,
        metavar="N",
        help="test images per node and cluster label",
    )
    parser.add_argument(
        "--ablation-nodes",
        type=_ablation_nodes,
        default=PagesSettings.ablation_nodes,
        metavar="N",
        help="nodes per tap silenced one by one (those with the most "
        "labels; two passes over --ablation-images each); all: every node",
    )
    parser.add_argument(
        "--ablation-images",
        type=_ablation_images,
        default=PagesSettings.ablation_images,
        metavar="N",
        help="the first N test images measure the ablations; all: every one",
    )
    parser.add_argument(
        "--board-nodes",
        type=non_negative_int,
        default=PagesSettings.board_nodes,
        metavar="N",
        help="node pages also written to TensorBoard",
    )
    parser.add_argument(
        "--no-model",
        action="store_true",
        help="do not reload the model and the test split: SNP and head "
        "results only (no top images, no node ablation)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="allow models that need safe_mode=False",
    )
    add_quiet_option(parser)
    return parser


def _ablation_nodes(text):
    return -1 if text == "all" else non_negative_int(text)


def _ablation_images(text):
    return None if text == "all" else positive_int(text)


def pages_main(argv=None):
    args = pages_parser().parse_args(argv)
    for needed in ("run.json", os.path.join("snp", "summary.json")):
        if not os.path.isfile(os.path.join(args.run_dir, needed)):
            raise UsageError(
                f"{args.run_dir} has no {needed}: give a run folder of "
                "train.py (with its snp stage)."
            )
    check_writable(args.run_dir, "the run folder")
    settings = PagesSettings(
        top_k=args.top_k,
        ablation_nodes=args.ablation_nodes,
        ablation_images=args.ablation_images,
        board_nodes=args.board_nodes,
    )
    start_keras(args.verbose)
    if args.no_model:
        from keras_snp.pages import build_pages

        info, _ = build_pages(
            args.run_dir, settings=settings, verbose=args.verbose
        )
        index = info["index"]
    else:
        from keras_snp.run import pipeline
        from keras_snp.run.prune_run import load_context

        ctx = load_context(
            args.run_dir, unsafe=args.unsafe, verbose=args.verbose
        )
        ctx.pages_settings = settings
        pipeline.run_stages(ctx, ("pages",), redo=("pages",))
        index = os.path.join(args.run_dir, PAGES_DIR, "index.html")
    print(f"pages: {os.path.abspath(index)}")
    return 0


def start_keras(verbose):
    from keras_snp.cli.common import start

    start(verbose)
