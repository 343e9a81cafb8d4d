"""AlexNet's first layer as the notes work it out, the size warning and its fixes, and the
shape errors of the spec (section 1)."""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path


def alexnet(size: int = 227) -> Network:
    net = Network.load(preset_path("alexnet"))
    net.input.height = net.input.width = size
    return net


def tiny(layers, channels=3, height=8, width=8) -> Network:
    return Network.from_dict({"format": "convscope", "version": 1,
                              "input": {"channels": channels, "height": height, "width": width},
                              "layers": layers})


def warnings(report):
    return [d for d in report.diagnostics if d.severity == "warning"]


def apply_fix(net: Network, fix: dict) -> None:
    """Make a fix's changes as the app does: the input size or one layer's key."""
    for change in fix["changes"]:
        if change["path"] == "input":
            setattr(net.input, change["key"], change["value"])
        else:
            net.find(change["path"]).set(change["key"], change["value"])


# --------------------------------------------------------------------------- AlexNet conv1
def test_conv1_at_227_is_55x55x96_without_warning():
    report = alexnet(227).analyze()
    conv1 = report.layers[0]
    assert conv1.type == "conv"
    assert conv1.in_shape == (3, 227, 227)
    assert conv1.out == (96, 55, 55)  # (227 − 11)/4 + 1 = 55
    assert conv1.diagnostics == []
    assert conv1.weights == 11 * 11 * 3 * 96 == 34_848
    assert conv1.params == 34_848 + 96 == 34_944
    assert conv1.macs == 34_848 * 55 * 55 == 105_415_200
    assert conv1.receptive_field == (11, 11) and conv1.jump == (4, 4)
    assert warnings(report) == [] and not report.has_error


def test_conv1_im2col_shapes():
    """The notes: kernels stretched to 96×363 rows, windows to 363×3025 columns, their
    product 96×3025 = 55×55×96."""
    im2col = alexnet(227).analyze().layers[0].extra["im2col"]
    assert tuple(im2col["weights"]) == (96, 363)  # 11·11·3 = 363
    assert tuple(im2col["columns"]) == (363, 3025)  # 55·55 = 3025
    assert tuple(im2col["output"]) == (96, 3025)


def test_conv1_output_is_the_im2col_product():
    """Build the notes' 363×3025 matrix window by window and multiply: the same numbers as
    the network's forward pass."""
    net = alexnet(227)
    net.layers = net.layers[:1]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 227, 227), dtype=np.float32)
    net.ensure_weights()
    name = net.layers[0].name
    weights = net.weights[f"{name}.weight"].reshape(96, 363)
    bias = rng.standard_normal(96).astype(np.float32)  # not the initial zeros
    net.weights[f"{name}.bias"] = bias
    out = net.forward(x)[name]
    columns = np.stack([x[0, :, 4 * r:4 * r + 11, 4 * c:4 * c + 11].ravel()
                        for r in range(55) for c in range(55)], axis=1)
    assert columns.shape == (363, 3025)
    expected = (weights.astype(np.float64) @ columns + bias[:, None]).reshape(96, 55, 55)
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_conv1_at_224_warns_with_the_numbers_and_offers_227():
    net = alexnet(224)
    report = net.analyze()
    conv1 = report.layers[0]
    assert conv1.out == (96, 54, 54)  # floor(54.25)
    assert conv1.status == "warning"
    (warning,) = conv1.diagnostics
    assert warning.severity == "warning"
    assert "(224 − 11 + 2·0)/4 + 1 = 54.25" in warning.message
    assert "227" in warning.message
    assert warning.path == "layers[0]" and warning.layer == conv1.name
    fix = warning.fixes[0]
    assert "227" in fix["label"]
    assert {c["path"] for c in fix["changes"]} == {"input"}
    assert {(c["key"], c["value"]) for c in fix["changes"]} == {("height", 227), ("width", 227)}
    apply_fix(net, fix)
    fixed = net.analyze()
    assert fixed.layers[0].out == (96, 55, 55)
    assert fixed.layers[0].diagnostics == []
    assert warnings(fixed) == []


def test_every_offered_fix_at_224_makes_conv1_whole():
    for index, fix in enumerate(alexnet(224).analyze().layers[0].diagnostics[0].fixes):
        net = alexnet(224)
        apply_fix(net, fix)
        conv1 = net.analyze().layers[0]
        assert conv1.diagnostics == [], (index, fix, conv1.diagnostics)


# --------------------------------------------------------------------------- other fixes
def test_padding_fix():
    """(8 − 4 + 2·0)/3 + 1 = 2.333: padding 1 makes it (8 − 4 + 2)/3 + 1 = 3."""
    net = tiny([{"type": "conv", "filters": 4, "kernel": 4, "stride": 3}])
    (warning,) = net.analyze().diagnostics
    assert "(8 − 4 + 2·0)/3 + 1 = 2.333" in warning.message
    assert net.analyze().layers[0].out == (4, 2, 2)
    padding = [f for f in warning.fixes if f["changes"][0]["key"] == "padding"]
    assert padding[0]["changes"] == [{"path": "layers[0]", "key": "padding", "value": 1}]
    apply_fix(net, padding[0])
    report = net.analyze()
    assert report.diagnostics == []
    assert report.layers[0].out == (4, 3, 3)


def test_odd_span_even_stride_says_no_padding_can_and_offers_the_rest():
    """(8 − 3 + 2P)/2 is never whole: 8 − 3 is odd and 2P even. The warning says so and
    offers stride 1 and the input sizes 9 and 7 instead."""
    net = tiny([{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}])
    (warning,) = net.analyze().diagnostics
    assert "(8 − 3 + 2·0)/2 + 1 = 3.5" in warning.message
    assert "no padding can" in warning.message
    keys = [c["key"] for f in warning.fixes for c in f["changes"]]
    assert "padding" not in keys
    assert warning.fixes[0]["changes"][0] == {"path": "input", "key": "height", "value": 9}
    for fix in warning.fixes:
        fixed = tiny([{"type": "conv", "filters": 4, "kernel": 3, "stride": 2}])
        apply_fix(fixed, fix)
        assert warnings(fixed.analyze()) == [], fix  # a lint may note stride 1's shrinking


def test_nested_layer_fix_names_its_path():
    net = tiny([{"type": "concat", "branches": [
        [{"type": "conv", "filters": 2, "kernel": 4, "stride": 3, "name": "b"}],
        [{"type": "conv", "filters": 2, "kernel": 4, "stride": 3}]]}])
    diags = net.analyze().diagnostics
    paths = {d.path for d in diags if d.severity == "warning"}
    assert paths == {"layers[0].branches[0][0]", "layers[0].branches[1][0]"}
    fix = next(f for d in diags if d.layer == "b" for f in d.fixes
               if f["changes"][0]["key"] == "padding")
    assert fix["changes"][0]["path"] == "layers[0].branches[0][0]"
    apply_fix(net, fix)
    assert net.analyze().by_name("b").diagnostics == []


# --------------------------------------------------------------------------- errors
def errors(report):
    return [d for d in report.diagnostics if d.severity == "error"]


def test_kernel_larger_than_padded_input():
    net = tiny([{"type": "conv", "filters": 4, "kernel": 5, "padding": 0}], height=3, width=3)
    report = net.analyze()
    (error,) = errors(report)
    assert "kernel 5 is larger than the padded input 3 + 2·0 = 3" in error.message
    assert report.layers[0].out is None and report.layers[0].status == "error"
    # padding 1 lets the 5×5 kernel fit: (3 − 5 + 2)/1 + 1 = 1
    net.layers[0].set("padding", 1)
    assert net.analyze().layers[0].out == (4, 1, 1)


def test_pool_kernel_larger_than_input():
    report = tiny([{"type": "pool", "mode": "max", "kernel": 9}]).analyze()
    (error,) = errors(report)
    assert "kernel 9 is larger than the padded input 8" in error.message


@pytest.mark.parametrize("channels, filters, groups, named", [
    (3, 4, 2, "input channels 3"), (4, 3, 2, "filters 3")])
def test_channels_or_filters_not_divisible_by_groups(channels, filters, groups, named):
    report = tiny([{"type": "conv", "filters": filters, "kernel": 3, "groups": groups}],
                  channels=channels).analyze()
    (error,) = errors(report)
    assert named in error.message and f"groups {groups}" in error.message
    assert "not divisible" in error.message


def test_residual_sides_differ_names_both_shapes():
    report = tiny([{"type": "residual", "name": "res",
                    "body": [{"type": "conv", "filters": 8, "kernel": 3, "stride": 2,
                              "padding": 1}]},
                   {"type": "relu"}], height=9, width=9).analyze()
    (error,) = errors(report)
    assert error.layer == "res" and error.path == "layers[0]"
    assert "5x5x8" in error.message and "9x9x3" in error.message
    assert report.by_name("res").out is None
    assert report.by_path("layers[0].body[0]").out == (8, 5, 5)  # the body itself is fine


def test_concat_branches_differ_in_height_and_width():
    report = tiny([{"type": "concat", "name": "cat",
                    "branches": [[{"type": "conv", "filters": 4, "kernel": 3}], []]}]).analyze()
    (error,) = errors(report)
    assert error.layer == "cat"
    assert "6x6x4" in error.message and "8x8x3" in error.message
    assert "H or W" in error.message


def test_concat_branches_may_differ_in_channels():
    report = tiny([{"type": "concat", "branches": [
        [{"type": "conv", "filters": 4, "kernel": 3, "padding": 1}], []]}]).analyze()
    assert report.diagnostics == [] and report.layers[0].out == (7, 8, 8)


def test_layers_after_an_error_are_blocked():
    net = tiny([
        {"type": "conv", "filters": 4, "kernel": 3},
        {"type": "conv", "name": "bad", "filters": 4, "kernel": 3, "groups": 3},
        {"type": "relu"},
        {"type": "residual", "body": [{"type": "conv", "filters": 4, "kernel": 1}]},
        {"type": "fc", "units": 10},
    ])
    report = net.analyze()
    assert report.has_error
    assert report.layers[0].out == (4, 6, 6) and report.layers[0].status == "ok"
    assert report.by_name("bad").status == "error"
    after = report.layers[2:]
    assert [i.path for i in after] == ["layers[2]", "layers[3]", "layers[3].body[0]",
                                       "layers[4]"]
    for info in after:
        assert info.status == "blocked" and info.out is None
        assert info.blocked_by == "layers[1]"
        assert info.activations == info.params == info.macs == 0
    with pytest.raises(ConvScopeError, match="bad"):
        net.forward(np.zeros((1, 3, 8, 8), np.float32))


def test_error_inside_a_block_blocks_the_block_and_what_follows():
    report = tiny([
        {"type": "residual", "name": "res", "body": [
            {"type": "conv", "name": "inner", "filters": 3, "kernel": 9}]},
        {"type": "relu", "name": "after"},
    ]).analyze()
    assert report.by_name("inner").status == "error"
    assert report.by_name("res").out is None
    assert report.by_name("after").status == "blocked"


def test_same_padding_with_an_even_kernel_is_an_error():
    report = tiny([{"type": "conv", "filters": 4, "kernel": 4, "padding": "same"}]).analyze()
    (error,) = errors(report)
    assert "same" in error.message and "1.5" in error.message  # 1·(4−1)/2
    assert report.layers[0].out is None


def test_same_padding_keeps_the_size():
    report = tiny([
        {"type": "conv", "filters": 4, "kernel": 5, "padding": "same"},
        # an even kernel is fine when the dilation makes D·(F−1) even: 2·(4−1)/2 = 3
        {"type": "conv", "filters": 4, "kernel": 4, "dilation": 2, "padding": "same"},
    ], height=7, width=10).analyze()
    assert [d for d in report.diagnostics if d.severity != "info"] == []  # lints are notes
    assert [i.out for i in report.layers] == [(4, 7, 10), (4, 7, 10)]
