"""Browsable pages of a run: what every node, head and encoder learned.

`build_pages(run_dir, model=None, test=None)` writes `RUN_DIR/pages/`, a
static site that opens from disk (no server, no network): an index with
the depth profile, a page per encoder (head expertise, null model, head
ablation) and a page per node (its SNP matrix, the test images that drive
its field hardest, its activation map, the accuracy change when it is
silenced, its ANDC connections). `collect_nodes` computes the per-node
numbers in one forward pass over the test split.
"""

from keras_snp.utils import lazy_exports

__all__ = [
    "PagesSettings",
    "build_pages",
    "collect_nodes",
    "read_page_data",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PagesSettings": "settings",
        "build_pages": "build",
        "collect_nodes": "collect",
        "read_page_data": "writer",
    },
    __all__,
)
