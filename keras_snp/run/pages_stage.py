"""The pages stage: the run folder's results, the model and the test
split into `RUN_DIR/pages/` (`keras_snp.pages.build_pages`), then
TensorBoard (`pages_board.log_pages`)."""

import os

from keras_snp.pages.build import INDEX
from keras_snp.pages.build import build_pages
from keras_snp.pages.settings import PAGES_DIR
from keras_snp.pages.settings import PagesSettings
from keras_snp.run import export as export_lib
from keras_snp.run import fit as fit_lib
from keras_snp.run.pages_board import log_pages


def stage(ctx, snp_result, settings=None):
    """Writes the pages of `ctx` (a `pipeline.Context`); returns the
    metrics run.json records.

    Args:
        ctx: the run's context (model, test split, folder).
        snp_result: the run's `SNPResult` (with its readout weights when
            the SNP stage ran in this process).
        settings: `PagesSettings` (default: its defaults).
    """
    settings = settings or PagesSettings()
    info, data = build_pages(
        ctx.folder.path,
        ctx.model,
        ctx.snp_data()[1],
        settings=settings,
        snp_result=snp_result,
        out_dir=ctx.out("pages"),
        # a corrupt pruned model is refused in one line
        load_model=export_lib.load_model,
        verbose=ctx.config.verbose,
    )
    # where the site lands once the staging folder is swapped in
    info["index"] = os.path.join(ctx.folder.path, PAGES_DIR, INDEX)
    if ctx.folder.writer:
        log_pages(
            info,
            data,
            snp_result,
            fit_lib.log_dir(ctx.folder, "pages"),
            count=settings.board_nodes,
        )
    return {
        "bytes": info["bytes"],
        "seconds": round(info["seconds"].get("total", 0.0), 1),
        "seconds_by_part": {
            part: round(seconds, 1)
            for part, seconds in info["seconds"].items()
            if part != "total"
        },
        "nodes": info["nodes"],
        "ablated_nodes": info["ablated_nodes"],
        "field": info["field"],
        "pruned_nodes": info["pruned"]["nodes"] if info["pruned"] else None,
        "settings": {
            "top_k": settings.top_k,
            "ablation_nodes": settings.ablation_nodes,
        },
    }
