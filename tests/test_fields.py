"""Receptive fields on the input: a field larger than the image is drawn clipped and flagged
with its numbers; a dilated field is drawn with its holes. Every number worked by hand."""

from __future__ import annotations

import numpy as np
from convscope.core import Network
from convscope.core.live.fields import on_image, reach
from convscope.gui.activations import Probe

WAIT = 60_000


def tiny(layers, size=16, channels=1):
    return Network.from_dict({"format": "convscope", "version": 1, "name": "tiny", "seed": 1,
                              "input": {"channels": channels, "height": size, "width": size},
                              "layers": layers})


def conv(name, kernel=3, dilation=1, padding=None, stride=1):
    return {"type": "conv", "name": name, "filters": 2, "kernel": kernel, "stride": stride,
            "dilation": dilation,
            "padding": dilation * (kernel - 1) // 2 if padding is None else padding}


# An 8×8 input; three 3×3 convs (pad 1), a 2×2 pool /2, one more 3×3 conv (pad 1).
# rf: 1 + 2 + 2 + 2 = 7, pool: 7 + 1·1 = 8 (jump 2), last conv: 8 + 2·2 = 12 > 8.
BIG_FIELD = [conv("c1"), conv("c2"), conv("c3"),
             {"type": "pool", "name": "p", "mode": "max", "kernel": 2},
             conv("c4")]


def test_a_field_larger_than_the_image_is_clipped_and_counted_by_hand():
    net = tiny(BIG_FIELD, size=8)
    report = net.analyze()
    assert report.by_name("c4").receptive_field == (12, 12)
    # c4 (1, 1) on its 4×4 map: c4 reads p rows 0..2; p rows 0..2 read c3 rows 0..5;
    # three 3×3 convs widen that by 1 each side: input rows −3..8 (12 rows)
    box = net.input_window("c4", 1, 1, report=report)
    assert box == ((-3, 8), (-3, 8))
    field = on_image(box, (8, 8))
    assert field.span == (12, 12) and field.larger and field.clipped
    assert field.shown == ((0, 7), (0, 7))
    # 3 rows above the image and 8 − 7 = 1 below: 4 = 12 − 8 per axis
    assert field.outside == (4, 4)
    # 12·12 = 144 pixels, 8·8 = 64 of them on the image: 80 in the padding, 56 %
    assert field.padding_pixels == 80
    assert field.text() == ("receptive field 12×12 is larger than the 8×8 input: drawn "
                            "clipped; 4 px of it on each axis fall in the padding (80 of its "
                            "144 pixels, 56 %)")
    # c4 (0, 0): rows −5..6 → 5 above, none below; a field that only passes the edge
    corner = on_image(net.input_window("c4", 0, 0, report=report), (8, 8))
    assert corner.outside == (5, 5) and corner.shown == ((0, 6), (0, 6))
    small = on_image(net.input_window("c1", 0, 3, report=report), (8, 8))
    assert small.text() == ("receptive field 3×3 is past the edge of the 8×8 input: drawn "
                            "clipped; 1 of its rows and 0 of its columns fall in the padding "
                            "(3 of its 9 pixels, 33 %)")
    inside = on_image(net.input_window("c1", 4, 4, report=report), (8, 8))
    assert not inside.clipped and inside.text() == ""


def test_one_dilated_conv_reaches_9_pixels_of_a_5x5_span():
    net = tiny([conv("d", dilation=2)])
    r = reach(net.analyze(), "d", 8, 8)
    # taps at 8 + (−2, 0, 2) on each axis
    assert r.span == (5, 5) and r.count == 9 and r.holes
    assert r.pixels() == {(y, x) for y in (6, 8, 10) for x in (6, 8, 10)}
    # at the corner, the taps at −2 are padding: 2·2 = 4 pixels reach it
    assert reach(net.analyze(), "d", 0, 0).pixels() == {(0, 0), (0, 2), (2, 0), (2, 2)}


def test_stacked_dilated_convs_by_hand():
    # d = 1 then d = 2: the d = 2 taps −2, 0, 2 each read −1..1 of the input: −3..3, all 7
    net = tiny([conv("a"), conv("b", dilation=2)])
    r = reach(net.analyze(), "b", 8, 8)
    assert (r.top, r.left, r.span, r.count, r.holes) == (5, 5, (7, 7), 49, False)
    # d = 2 then d = 2: {−2, 0, 2} + {−2, 0, 2} = {−4, −2, 0, 2, 4}: 25 of a 9×9 span
    net = tiny([conv("a", dilation=2), conv("b", dilation=2)])
    r = reach(net.analyze(), "b", 8, 8)
    assert r.span == (9, 9) and r.count == 25
    assert r.pixels() == {(8 + i, 8 + j) for i in range(-4, 5, 2) for j in range(-4, 5, 2)}
    # stride 2 then d = 2: b's taps on a are a-pixels 6, 8, 10 of (8, 8) → input 2·6 − 1 ..
    # 2·10 − 1 + 2: a's 3×3 /2 windows 11..13, 15..17, 19..21: 9 of 11 rows
    net = tiny([conv("a", stride=2), conv("b", dilation=2)], size=32)
    r = reach(net.analyze(), "b", 8, 8)
    rows = sorted({y for y, _ in r.pixels()})
    assert rows == [11, 12, 13, 15, 16, 17, 19, 20, 21] and r.count == 81


def test_a_block_reaches_the_union_of_its_branches():
    # a 1×1 branch and a 3×3 d=2 branch: the centre plus the 8 taps around it = 9 pixels
    net = tiny([{"type": "concat", "name": "cat", "branches": [
        [conv("one", kernel=1)], [conv("far", dilation=2)]]}])
    r = reach(net.analyze(), "cat", 8, 8)
    assert r.count == 9 and r.span == (5, 5)
    # the 1×1 branch is the centre, which the d = 2 branch reads too: still 9
    assert (8, 8) in r.pixels() and (7, 7) not in r.pixels()


def test_a_1x7_and_a_7x1_branch_reach_a_cross():
    # Inception v3's factorised convs side by side: row 4 ± 3 and column 4 ± 3, the
    # centre counted once: 7 + 7 − 1 = 13 pixels of a 7×7 span
    net = tiny([{"type": "concat", "name": "cat", "branches": [
        [{"type": "conv", "filters": 2, "kernel": [1, 7], "padding": [0, 3]}],
        [{"type": "conv", "filters": 2, "kernel": [7, 1], "padding": [3, 0]}]]}], size=9)
    r = reach(net.analyze(), "cat", 4, 4)
    assert r.count == 13 and r.span == (7, 7)
    assert r.pixels() == {(4, x) for x in range(1, 8)} | {(y, 4) for y in range(1, 8)}


# ============================================================================ on the screen
def open_network(qtbot, live, net):
    with qtbot.waitSignal(live.controller.resultReady, timeout=WAIT):
        live.document.replace_network(net, None)


def test_the_input_view_draws_a_clipped_field_and_flags_it(qtbot, live):
    open_network(qtbot, live, tiny(BIG_FIELD, size=8))
    live.controller.set_probe(Probe("c4", 0, 1, 1))
    overlay = live.input_view.overlay
    assert overlay.rects() == {"field": ((0, 7), (0, 7))}
    assert overlay.flag.isVisible()
    assert overlay.flag.textItem.toPlainText() == "12×12 > 8×8: clipped"
    text = live.input_view.info.text()
    assert "rows -3..8, cols -3..8 (12×12)" in text
    assert "receptive field 12×12 is larger than the 8×8 input: drawn clipped; 4 px" in text
    # a field inside the image: no flag
    live.controller.set_probe(Probe("c1", 0, 4, 4))
    assert overlay.rects() == {"field": ((3, 5), (3, 5)), "window": ((3, 5), (3, 5))}
    assert not overlay.flag.isVisible()
    assert "padding" not in live.input_view.info.text()


def test_the_input_view_draws_the_holes_of_a_dilated_field(qtbot, live):
    open_network(qtbot, live, tiny([conv("a", dilation=2), conv("b", dilation=2)]))
    live.controller.set_probe(Probe("b", 0, 8, 8))
    cells = live.input_view.overlay.reach_cells()
    expected = {(8 + i, 8 + j) for i in range(-4, 5, 2) for j in range(-4, 5, 2)}
    assert {tuple(c) for c in cells.tolist()} == expected
    assert "25 of the 81 pixels in its 9×9 span reach it" in live.input_view.info.text()
    # one picture, not an item per pixel; a layer without holes draws none
    live.controller.set_probe(Probe("a", 0, 8, 8))
    assert live.input_view.overlay.reach_cells() is not None  # a alone: 9 of 5×5
    assert len(live.input_view.overlay.reach_cells()) == 9
    open_network(qtbot, live, tiny([conv("a"), conv("b", dilation=2)]))
    live.controller.set_probe(Probe("b", 0, 8, 8))
    assert live.input_view.overlay.reach_cells() is None
    assert np.array_equal(live.input_view.overlay.rects()["field"], ((5, 11), (5, 11)))
