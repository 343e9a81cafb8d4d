"""Compare: one 7×7 conv against three stacked 3×3 convs, the notes' argument, by hand."""

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.understand.compare import compare, example_7x7_vs_3x3

C = 8  # channels in and out
S = 224


def test_one_7x7_against_three_3x3_by_hand():
    one, three = example_7x7_vs_3x3(channels=C, size=S)
    result = compare(one, three)
    t = result.totals
    # weights: 7·7·C·C = 49C² = 3,136 against 3·(3·3·C·C) = 27C² = 1,728
    assert (t["weights"]["a"], t["weights"]["b"]) == (49 * C * C, 27 * C * C) == (3136, 1728)
    # with biases: 49C² + C against 27C² + 3C
    assert (t["params"]["a"], t["params"]["b"]) == (49 * C * C + C, 27 * C * C + 3 * C)
    # the same 7×7 receptive field: 1 + 6 = 7 against 1 + 2 + 2 + 2 = 7
    assert t["receptive_field"]["a"] == t["receptive_field"]["b"] == (7, 7)
    # MACs: weights × 224·224 output positions
    assert t["macs"]["a"] == 49 * C * C * S * S == 157_351_936
    assert t["macs"]["b"] == 27 * C * C * S * S == 86_704_128
    assert t["weights"]["ratio"] == pytest.approx(27 / 49)
    # activations: the input and one 224×224×C map against the input and three of them
    # (the ReLUs run in place): 2·S²C vs 4·S²C values
    assert t["activations"]["a"] == 2 * S * S * C and t["activations"]["b"] == 4 * S * S * C
    assert t["forward_bytes"]["b"] == 4 * 4 * S * S * C
    assert t["depth"]["a"] == 1 and t["depth"]["b"] == 3
    # a training step keeps each map and its gradient, plus parameters and their gradients:
    # (2·S²C + 1·S²C)·4 + 2·3,144·4 against (4·S²C + 3·S²C)·4 + 2·1,752·4 bytes
    assert t["training_bytes"]["a"] == (3 * S * S * C + 2 * 3144) * 4
    assert t["training_bytes"]["b"] == (7 * S * S * C + 2 * 1752) * 4


def test_rows_line_the_layers_up_side_by_side():
    one, three = example_7x7_vs_3x3(channels=C, size=S)
    rows = compare(one, three).rows
    assert len(rows) == 6  # conv, relu against (conv, relu) × 3
    first = rows[0]
    assert first.a["name"] == "conv1" and first.a["receptive_field"] == (7, 7)
    assert first.b["name"] == "conv1" and first.b["receptive_field"] == (3, 3)
    assert first.a["weights"] == 7 * 7 * C * C and first.b["weights"] == 3 * 3 * C * C
    assert rows[2].a is None and rows[2].b["receptive_field"] == (5, 5)
    assert rows[4].b["output"] == (C, S, S) and rows[4].b["macs"] == 9 * C * C * S * S
    assert rows[1].a["activations"] == 0  # relu in place


def test_a_network_with_an_error_is_named():
    one, _ = example_7x7_vs_3x3(channels=C, size=S)
    broken = Network.from_dict({"format": "convscope", "version": 1, "name": "broken",
                                "input": {"channels": 1, "height": 4, "width": 4},
                                "layers": [{"type": "conv", "filters": 2, "kernel": 7}]})
    with pytest.raises(ConvScopeError, match="'broken' has an error"):
        compare(one, broken)
