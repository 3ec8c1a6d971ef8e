"""ANDC masks from the tensors each layer reads and writes (METHOD.md 4)."""

import numpy as np

from keras_snp.pruning import connection_masks
from keras_snp.pruning import random_masks
from keras_snp.pruning.andc import dilution
from keras_snp.pruning.andc import dilution_by_scope
from keras_snp.pruning.andc import layer_sides
from keras_snp.pruning.andc import parse_scope
from keras_snp.pruning.andc import pruning_taps
from keras_snp.pruning.andc import scope_name
from keras_snp.snp import SNPResult
from keras_snp.snp.result import TapResult
from tests.helpers import TestCase
from tests.helpers import tiny_cct

K = 6


def set_tap(name, sets):
    """A tap whose node d has exactly the diagonal set `sets[d]`."""
    V = np.zeros((len(sets), K, K), "float32")
    for d, labels in enumerate(sets):
        V[d, list(labels), list(labels)] = 1.0
    return TapResult(
        name=name,
        kind="other",
        encoder=None,
        V=V,
        head=np.full(len(sets), -1),
        tokens=1,
    )


def planted_everywhere(model):
    """Different random sets on every tap, right and wrong alike."""
    rng = np.random.default_rng(0)
    names = ["sequence_pool", "final_norm"] + [
        f"encoder_{l}_{s}"
        for l in (1, 2)
        for s in ("mha", "attn_add", "norm", "ff_hidden", "out")
    ]
    sets, taps = {}, {}
    for name in names:
        n = model.get_layer(name).output.shape[-1]
        sets[name] = [
            sorted(rng.choice(K, rng.integers(0, 3), replace=False))
            for _ in range(n)
        ]
        taps[name] = set_tap(name, sets[name])
    return SNPResult(taps=taps, theta=0.3), sets


def reference(sets_in, sets_out=None):
    """Slow reference: keep (u, v) iff the sets share a label; (d, c) iff
    c in D_d for the classifier."""
    if sets_out is None:
        mask = np.zeros((len(sets_in), K), bool)
        for d, labels in enumerate(sets_in):
            mask[d, labels] = True
        return mask
    return np.array(
        [[bool(set(a) & set(b)) for b in sets_out] for a in sets_in]
    )


class ExactTapsTest(TestCase):
    def setUp(self):
        self.model = tiny_cct(num_classes=K)
        self.result, self.sets = planted_everywhere(self.model)

    def test_each_layer_uses_the_tensor_it_reads_and_writes(self):
        masks = connection_masks(self.model, self.result, scope="all")
        s = self.sets
        right = {
            "classifier": reference(s["sequence_pool"]),
            "encoder_1_ff_hidden": reference(
                s["encoder_1_norm"], s["encoder_1_ff_hidden"]
            ),
            "encoder_2_ff_hidden": reference(
                s["encoder_2_norm"], s["encoder_2_ff_hidden"]
            ),
            "encoder_2_ff_out": reference(
                s["encoder_2_ff_hidden"], s["encoder_2_out"]
            ),
            "encoder_2_attn_proj": reference(
                s["encoder_2_mha"], s["encoder_2_attn_add"]
            ),
        }
        # the stand-ins of the first pass, which must not be used
        wrong = {
            "classifier": reference(s["encoder_2_out"]),
            "encoder_2_ff_hidden": reference(
                s["encoder_1_out"], s["encoder_2_ff_hidden"]
            ),
            "encoder_2_attn_proj": reference(
                s["encoder_2_mha"], s["encoder_2_out"]
            ),
        }
        self.assertEqual(len(masks), 7)  # classifier + 3 per encoder
        for name, mask in right.items():
            self.assertAllEqual(masks[name], mask)
        for name, mask in wrong.items():
            self.assertFalse(np.array_equal(masks[name], mask), name)

    def test_scopes(self):
        readout = connection_masks(self.model, self.result, scope="readout")
        self.assertEqual(list(readout), ["classifier"])
        ff = connection_masks(self.model, self.result, scope="ff")
        self.assertEqual(
            sorted(ff),
            [
                "encoder_1_ff_hidden",
                "encoder_1_ff_out",
                "encoder_2_ff_hidden",
                "encoder_2_ff_out",
            ],
        )
        attn = connection_masks(self.model, self.result, scope="attn_proj")
        self.assertEqual(
            sorted(attn), ["encoder_1_attn_proj", "encoder_2_attn_proj"]
        )
        both = connection_masks(self.model, self.result, scope="readout+ff")
        self.assertEqual(sorted(both), sorted(["classifier", *ff]))
        self.assertEqual(parse_scope("internal"), ("ff", "attn_proj"))
        self.assertEqual(scope_name("attn_proj,readout,ff"), "all")
        with self.assertRaisesRegex(ValueError, "`scope` must be one of"):
            parse_scope("heads")

    def test_taps_needed_and_missing(self):
        self.assertEqual(pruning_taps(self.model, "readout"), ["sequence_pool"])
        self.assertEqual(
            pruning_taps(self.model, "attn_proj"),
            [
                "encoder_1_mha",
                "encoder_1_attn_add",
                "encoder_2_mha",
                "encoder_2_attn_add",
            ],
        )
        self.assertEqual(
            layer_sides(self.model, "ff")["encoder_1_ff_out"],
            ("encoder_1_ff_hidden", "encoder_1_out"),
        )
        partial = SNPResult(
            taps={
                k: v
                for k, v in self.result.taps.items()
                if k != "encoder_1_norm"
            },
            theta=0.3,
        )
        with self.assertRaisesRegex(
            ValueError,
            "lacks the taps "
            r"\['encoder_1_norm'\]",
        ):
            connection_masks(self.model, partial, scope="ff")
        # a scope that does not read the missing tap still works
        self.assertIn(
            "classifier", connection_masks(self.model, partial, scope="readout")
        )

    def test_dilution_per_scope(self):
        masks = connection_masks(self.model, self.result, scope="all")
        by_scope = dilution_by_scope(masks)
        self.assertEqual(
            sorted(by_scope), ["all", "attn_proj", "ff", "readout"]
        )
        sizes = np.array([len(x) for x in self.sets["sequence_pool"]])
        self.assertAllClose(by_scope["readout"], 1 - sizes.sum() / (16 * K))
        kept = sum(m.sum() for m in masks.values())
        total = sum(m.size for m in masks.values())
        self.assertAllClose(dilution(masks), 1 - kept / total)


class RandomControlTest(TestCase):
    def test_keeps_row_and_column_counts(self):
        model = tiny_cct(num_classes=K)
        result, _ = planted_everywhere(model)
        masks = connection_masks(model, result, scope="all")
        control = random_masks(masks, seed=3)
        changed = 0
        for name, mask in masks.items():
            self.assertAllEqual(control[name].sum(axis=1), mask.sum(axis=1))
            self.assertAllEqual(control[name].sum(axis=0), mask.sum(axis=0))
            changed += int((control[name] != mask).sum())
        self.assertGreater(changed, 0)
        again = random_masks(masks, seed=3)
        for name in masks:
            self.assertAllEqual(again[name], control[name])

    def test_mixes_a_block_mask(self):
        mask = np.zeros((20, 20), bool)
        mask[:10, :10] = mask[10:, 10:] = True
        control = random_masks({"x": mask}, seed=0)["x"]
        self.assertAllEqual(control.sum(0), mask.sum(0))
        self.assertAllEqual(control.sum(1), mask.sum(1))
        # far from the block structure it started from
        self.assertLess((control & mask).sum(), 0.75 * mask.sum())
