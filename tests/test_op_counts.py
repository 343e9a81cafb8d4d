"""The work beside the MACs (issue 13): comparisons, additions, multiplications, divisions,
exponentials and square roots per layer for one image, worked out by hand. The MACs stay
the spec's (conv and fc only)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from convscope.core import Network
from convscope.core.layers import OPS, op_dict
from convscope.core.presets import preset_path
from convscope.core.summary import ops_text, render


def one_layer(shape, layer: dict):
    """The LayerInfo of ``layer`` on an input (C, H, W)."""
    c, h, w = shape
    net = Network.from_dict({"format": "convscope", "version": 1, "name": "one",
                             "input": {"channels": c, "height": h, "width": w},
                             "layers": [layer]})
    return net.analyze().layers[0]


def test_op_dict_names_every_count_and_refuses_a_made_up_one():
    assert op_dict(compares=12) == {"compares": 12, "adds": 0, "muls": 0, "divs": 0,
                                    "exps": 0, "sqrts": 0}
    with pytest.raises(ValueError, match="'flops'"):
        op_dict(flops=1)


def test_max_pool_2x2_on_4x4_compares_3_per_output():
    # 4×4×1 → 2×2×1: 4 outputs, each the largest of 4 values = 3 comparisons: 12
    info = one_layer((1, 4, 4), {"type": "pool", "mode": "max", "kernel": 2})
    assert info.out == (1, 2, 2)
    assert info.ops == op_dict(compares=12)
    assert info.macs == 0


def test_avg_and_l2_pool_2x2_on_4x4():
    # avg: 4 outputs × (3 additions + 1 division)
    avg = one_layer((1, 4, 4), {"type": "pool", "mode": "avg", "kernel": 2})
    assert avg.ops == op_dict(adds=12, divs=4)
    # l2: 4 outputs × (4 squares + 3 additions + 1 square root)
    l2 = one_layer((1, 4, 4), {"type": "pool", "mode": "l2", "kernel": 2})
    assert l2.ops == op_dict(muls=16, adds=12, sqrts=4)


def test_global_avg_pool_sums_each_channel_once():
    # 3 channels of 5×5: 24 additions and 1 division each
    info = one_layer((3, 5, 5), {"type": "global_avg_pool"})
    assert info.ops == op_dict(adds=72, divs=3)


def test_softmax_over_10_classes():
    # max: 9 comparisons; s − max: 10 subtractions; 10 exponentials; the sum: 9 additions;
    # 10 divisions
    info = one_layer((10, 1, 1), {"type": "softmax"})
    assert info.ops == op_dict(compares=9, adds=19, exps=10, divs=10)


def test_lrn_n5_on_7_channels_of_3x3():
    # windows c−2 … c+2 clipped to channels 0 … 6: 3, 4, 5, 5, 5, 4, 3 squares = 29 per
    # pixel; a window of s squares takes s − 1 additions, then + k: s additions per value,
    # 29 per pixel, 261 over 9 pixels. Per value: a², ·α/n, β·ln (3 multiplications),
    # ln and exp (2), 1 division; 63 values.
    info = one_layer((7, 3, 3), {"type": "lrn", "size": 5})
    assert info.ops == op_dict(adds=261, muls=189, exps=126, divs=63)


def test_lrn_windows_match_a_count_by_hand_for_an_even_size():
    # n = 4: window c − 2 … c + 1, clipped to 0 … 5: sizes 2, 3, 4, 4, 4, 3 = 20
    c, front, back = 6, 2, 1
    sizes = [len([j for j in range(i - front, i + back + 1) if 0 <= j < c]) for i in range(c)]
    assert sum(sizes) == 20
    info = one_layer((6, 2, 2), {"type": "lrn", "size": 4})
    assert info.ops["adds"] == 20 * 4


@pytest.mark.parametrize(("kind", "per_element"), [
    ("relu", {"compares": 1}),
    ("relu6", {"compares": 2}),
    ("sigmoid", {"exps": 1, "adds": 1, "divs": 1}),
    ("tanh", {"muls": 1, "exps": 1, "adds": 2, "divs": 1}),
    ("silu", {"exps": 1, "adds": 1, "divs": 1}),
    ("batchnorm", {"muls": 1, "adds": 1}),
    ("dropout", {}),
])
def test_element_wise_layers_count_per_element(kind, per_element):
    info = one_layer((2, 3, 4), {"type": kind})
    assert info.ops == op_dict(**{k: 24 * v for k, v in per_element.items()})


def test_layernorm_per_position():
    # C = 4 at each of 2·2 positions: mean 3 adds + 1 div; variance 4 subtractions, 4 squares,
    # 3 adds, 1 div; + eps 1 add; 1 sqrt; 1/σ 1 div; x̂ 4 muls; affine 4 muls + 4 adds
    info = one_layer((4, 2, 2), {"type": "layernorm"})
    assert info.ops == op_dict(adds=4 * 15, muls=4 * 12, divs=4 * 3, sqrts=4)


def test_a_residual_counts_its_join_and_its_layers_their_own():
    add = one_layer((2, 3, 3), {"type": "residual", "body": [{"type": "relu"}]})
    assert add.ops == op_dict(adds=18)  # body + shortcut, one addition per output value
    relu = add.branches[0][0]
    assert relu.ops == op_dict(compares=18)
    mul = one_layer((2, 3, 3), {"type": "residual", "join": "mul",
                                "body": [{"type": "sigmoid"}]})
    assert mul.ops == op_dict(muls=18)


@pytest.fixture(scope="module")
def alexnet():
    return Network.load(preset_path("alexnet")).analyze()


def test_alexnet_conv1_keeps_its_macs_and_adds_its_bias(alexnet):
    conv1 = alexnet.by_name("conv1")
    assert conv1.macs == 105_415_200  # 55·55·96 outputs × 11·11·3 weights, as the spec says
    assert conv1.ops == op_dict(adds=290_400)  # one bias per output value
    assert alexnet.totals()["macs"] == 1_135_256_096  # conv and fc only, as before


def test_alexnet_relu1_and_pool1(alexnet):
    assert alexnet.by_name("relu1").ops == op_dict(compares=290_400)  # 55·55·96
    pool1 = alexnet.by_name("pool1")
    assert (pool1.in_shape, pool1.out) == ((96, 55, 55), (96, 27, 27))
    # 27·27·96 = 69,984 outputs × (3·3 − 1) comparisons
    assert pool1.ops == op_dict(compares=559_872)


def test_alexnet_norm1(alexnet):
    # 96 channels, n = 5: windows 3, 4, then 92 × 5, 4, 3 = 474 per pixel, × 27·27 = 729
    norm1 = alexnet.by_name("norm1")
    assert norm1.ops == op_dict(adds=474 * 729, muls=3 * 69_984, exps=2 * 69_984,
                                divs=69_984)


def test_op_totals_add_up_every_layer(alexnet):
    totals = alexnet.op_totals()
    assert totals == {k: sum(i.ops[k] for i in alexnet.layers) for k in OPS}
    # 7 ReLUs' and 3 max pools' comparisons (8 each: 3×3 windows)
    relus = 290_400 + 186_624 + 64_896 + 64_896 + 43_264 + 4096 + 4096
    pools = 559_872 + 8 * 43_264 + 8 * 9216
    assert totals["compares"] == relus + pools


def test_summary_json_gains_ops_beside_the_spec_keys(alexnet):
    data = json.loads(render(alexnet, "json"))
    conv1 = data["layers"][0]
    assert conv1["macs"] == 105_415_200 and conv1["ops"]["adds"] == 290_400
    assert data["layers"][2]["name"] == "pool1"
    assert data["layers"][2]["ops"]["compares"] == 559_872
    assert set(data["totals"]) == {"params", "weights", "activations", "macs",
                                   "forward_bytes"}  # the spec's totals, unchanged
    assert data["op_totals"] == alexnet.op_totals()


def test_summary_csv_markdown_and_table_show_the_ops(alexnet):
    rows = list(csv.DictReader(io.StringIO(render(alexnet, "csv"))))
    pool1 = next(r for r in rows if r["name"] == "pool1")
    assert pool1["compares"] == "559872" and pool1["macs"] == "0"
    assert rows[-1]["compares"] == str(alexnet.op_totals()["compares"])
    assert "| 0 | 560K cmp | 19x19 |" in render(alexnet, "markdown")
    table = render(alexnet, "table")
    assert "ops: 560K cmp  RF: 19x19" in table
    assert "TOTAL other ops: 1.6M cmp" in table


def test_ops_text_is_compact_and_skips_zeros():
    assert ops_text(op_dict(compares=1_234_567, adds=400_000)) == "1.2M cmp · 400K add"
    assert ops_text(op_dict()) == ""


def test_pool_explain_states_the_same_work_as_the_ops_column():
    """VGG16 pool1 reads 64·112·112 windows of 4 values, 3 comparisons each: 2,408,448."""
    info = one_layer((64, 224, 224), {"type": "pool", "name": "pool1", "kernel": 2,
                                      "stride": 2})
    text = " ".join(section.text for section in info.layer.explain(info))
    assert "802,816 windows × 4 values = 3,211,264 values read" in text
    assert "costing 2,408,448 comparisons" in text
    avg = one_layer((1, 4, 4), {"type": "pool", "name": "p", "kernel": 2, "mode": "avg"})
    text = " ".join(section.text for section in avg.layer.explain(avg))
    assert "costing 12 additions and 4 divisions" in text  # 4 windows: 3 adds, 1 division
