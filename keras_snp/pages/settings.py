"""The pages' settings: plain Python, read by the command line before
Keras starts."""

import dataclasses

PAGES_DIR = "pages"


@dataclasses.dataclass(frozen=True)
class PagesSettings:
    """What the pages show, and how much it costs.

    Attributes:
        top_k: test images kept per node and cluster label (the ones that
            drive the node's field for that label hardest).
        ablation_nodes: nodes per tap silenced one by one (and with their
            cluster-mates), the ones with the most diagonal labels; each
            costs two passes over the test split. 0: none; -1: every node.
        thumb_size: side of a thumbnail in the sprite, in pixels.
        max_grid: token maps are average-pooled to at most this many
            tokens per side (8: a 64 px CCT's 16 x 16 grid in 2 x 2 blocks,
            enough over a 32 px thumbnail).
        board_nodes: node pages written to TensorBoard as images.
    """

    top_k: int = 16
    ablation_nodes: int = 2
    ablation_images: int | None = 1000
    thumb_size: int = 32
    max_grid: int = 8
    board_nodes: int = 4

    def __post_init__(self):
        for name in ("top_k", "thumb_size", "max_grid"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a whole number >= 1. Received: "
                    f"{name}={value!r}"
                )
        if self.ablation_images is not None and (
            not isinstance(self.ablation_images, int)
            or self.ablation_images < 1
        ):
            raise ValueError(
                "`ablation_images` must be None or a whole number >= 1. "
                f"Received: ablation_images={self.ablation_images!r}"
            )
        if not isinstance(self.ablation_nodes, int) or self.ablation_nodes < -1:
            raise ValueError(
                "`ablation_nodes` must be -1 (every node), 0 or more. "
                f"Received: ablation_nodes={self.ablation_nodes!r}"
            )
