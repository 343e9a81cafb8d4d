"""The notes' "VGGNet in detail" table, row by row, against the vgg16 preset.

``NOTES_TABLE`` is copied verbatim from the notes (CS231n Lecture 5, section six). Each row's
shape, memory and weights are read from the text itself, so the figures asserted are exactly
the ones printed there.
"""

from __future__ import annotations

import re

import pytest
from convscope.core import Network, fmt_shape
from convscope.core.presets import preset_path
from convscope.core.summary import render
from convscope.gui import cli

NOTES_TABLE = """\
INPUT: [224x224x3] memory: 224*224*3=150K weights: 0
CONV3-64: [224x224x64] memory: 224*224*64=3.2M weights: (3*3*3)*64 = 1,728
CONV3-64: [224x224x64] memory: 224*224*64=3.2M weights: (3*3*64)*64 = 36,864
POOL2: [112x112x64] memory: 112*112*64=800K weights: 0
CONV3-128: [112x112x128] memory: 112*112*128=1.6M weights: (3*3*64)*128 = 73,728
CONV3-128: [112x112x128] memory: 112*112*128=1.6M weights: (3*3*128)*128 = 147,456
POOL2: [56x56x128] memory: 56*56*128=400K weights: 0
CONV3-256: [56x56x256] memory: 56*56*256=800K weights: (3*3*128)*256 = 294,912
CONV3-256: [56x56x256] memory: 56*56*256=800K weights: (3*3*256)*256 = 589,824
CONV3-256: [56x56x256] memory: 56*56*256=800K weights: (3*3*256)*256 = 589,824
POOL2: [28x28x256] memory: 28*28*256=200K weights: 0
CONV3-512: [28x28x512] memory: 28*28*512=400K weights: (3*3*256)*512 = 1,179,648
CONV3-512: [28x28x512] memory: 28*28*512=400K weights: (3*3*512)*512 = 2,359,296
CONV3-512: [28x28x512] memory: 28*28*512=400K weights: (3*3*512)*512 = 2,359,296
POOL2: [14x14x512] memory: 14*14*512=100K weights: 0
CONV3-512: [14x14x512] memory: 14*14*512=100K weights: (3*3*512)*512 = 2,359,296
CONV3-512: [14x14x512] memory: 14*14*512=100K weights: (3*3*512)*512 = 2,359,296
CONV3-512: [14x14x512] memory: 14*14*512=100K weights: (3*3*512)*512 = 2,359,296
POOL2: [7x7x512] memory: 7*7*512=25K weights: 0
FC: [1x1x4096] memory: 4096 weights: 7*7*512*4096 = 102,760,448
FC: [1x1x4096] memory: 4096 weights: 4096*4096 = 16,777,216
FC: [1x1x1000] memory: 1000 weights: 4096*1000 = 4,096,000
TOTAL memory: 24M * 4 bytes ~= 93MB / image (only forward! ~*2 for bwd)
TOTAL params: 138M parameters
"""

ROW = re.compile(r"(?P<label>[A-Z0-9-]+): \[(?P<h>\d+)x(?P<w>\d+)x(?P<c>\d+)\] "
                 r"memory: (?P<memory>\S+) weights: (?P<weights>.+)")


def product(expression: str) -> int:
    """``224*224*64`` → 3211264."""
    result = 1
    for factor in re.findall(r"\d+", expression):
        result *= int(factor)
    return result


def notes_rows() -> list[dict]:
    rows = []
    for line in NOTES_TABLE.splitlines():
        m = ROW.fullmatch(line)
        if not m:
            continue
        memory = m["memory"]
        exact = product(memory.split("=")[0])  # 224*224*64 (or a plain 4096)
        weights = m["weights"]
        weight_count = int(weights.split("=")[-1].replace(",", "")) if "=" in weights else 0
        if "=" in weights:  # the notes' product agrees with the number after it
            assert product(weights.split("=")[0]) == weight_count
        rows.append({"line": line, "label": m["label"],
                     "shape": (int(m["c"]), int(m["h"]), int(m["w"])),
                     "memory": exact, "weights": weight_count})
    return rows


ROWS = notes_rows()
LAYER_ROWS = ROWS[1:]  # after INPUT: every CONV, POOL and FC row, in order


@pytest.fixture(scope="module")
def report():
    return Network.load(preset_path("vgg16")).analyze()


def test_the_notes_table_was_read_whole():
    assert len(ROWS) == 22
    assert [r["label"] for r in LAYER_ROWS].count("POOL2") == 5
    assert sum(r["label"].startswith("CONV3") for r in LAYER_ROWS) == 13
    assert [r["label"] for r in LAYER_ROWS[-3:]] == ["FC", "FC", "FC"]


def test_input_row(report):
    assert report.input_shape == ROWS[0]["shape"] == (3, 224, 224)
    assert ROWS[0]["memory"] == 150_528


def counted_layers(report):
    """The layers the notes give a row: conv, pool and fc (ReLU and dropout run in place)."""
    return [i for i in report.layers if i.type in ("conv", "pool", "fc")]


def test_same_layers_as_the_notes(report):
    labels = [r["label"] for r in LAYER_ROWS]
    ours = []
    for info in counted_layers(report):
        if info.type == "conv":
            ours.append(f"CONV{info.layer.pair('kernel')[0]}-{info.layer.values['filters']}")
        elif info.type == "pool":
            ours.append(f"POOL{info.layer.pair('kernel')[0]}")
        else:
            ours.append("FC")
    assert ours == labels


@pytest.mark.parametrize("index", range(len(LAYER_ROWS)),
                         ids=[f"{i + 1}-{r['label']}" for i, r in enumerate(LAYER_ROWS)])
def test_row(report, index):
    row, info = LAYER_ROWS[index], counted_layers(report)[index]
    assert info.out == row["shape"], row["line"]
    assert fmt_shape(info.out) == "{1}x{2}x{0}".format(*row["shape"])
    assert info.activations == row["memory"], row["line"]
    assert info.weights == row["weights"], row["line"]
    assert [d for d in info.diagnostics if d.severity != "info"] == []  # fc6: the fc-heavy lint


def test_every_layer_is_whole_and_elementwise_ones_add_no_memory(report):
    assert [d.rule for d in report.diagnostics] == ["lint:fc-heavy"] and not report.has_error
    others = [i for i in report.layers if i.type not in ("conv", "pool", "fc")]
    assert {i.type for i in others} == {"relu", "dropout"}
    assert all(i.layer.IN_PLACE and i.weights == 0 for i in others)


def test_totals(report):
    totals = report.totals()
    assert totals["params"] == 138_357_544
    assert totals["weights"] == 138_344_128
    assert totals["activations"] == 15_237_608
    assert totals["forward_bytes"] == 60_950_432 == 4 * 15_237_608
    assert totals["macs"] == 15_470_264_320  # the spec's JSON example


def test_the_notes_rows_add_up_to_15_2M_not_24M(report):
    """The notes print "TOTAL memory: 24M"; their own rows sum to 15,237,608."""
    assert sum(r["memory"] for r in ROWS) == 15_237_608 == report.totals()["activations"]
    assert sum(r["weights"] for r in ROWS) == 138_344_128 == report.totals()["weights"]
    assert "24M * 4 bytes ~= 93MB" in NOTES_TABLE


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def table_output():
    return render(Network.load(preset_path("vgg16")).analyze(), "table")


@pytest.mark.parametrize("index", range(len(ROWS)),
                         ids=[f"{i}-{r['label']}" for i, r in enumerate(ROWS)])
def test_table_prints_the_notes_row(table_output, index):
    """Each notes row appears in the table, in its words: label, shape, the memory
    expression with the notes' rounding (3.2M, 800K) and the weights expression."""
    row = ROWS[index]
    label, rest = row["line"].split(": ", 1)
    shape, memory_and_weights = rest.split(" ", 1)
    memory, weights = memory_and_weights.split(" weights: ")
    lines = [squeeze(line) for line in table_output.splitlines()
             if squeeze(line).startswith(label + ":")]
    wanted = [f"{shape} {memory}", f"weights: {weights}"]
    assert any(all(w in line for w in wanted) for line in lines), (row["line"], lines)


def test_table_rows_in_the_notes_order(table_output):
    positions, start = [], 0
    text = squeeze(table_output)
    for row in ROWS:
        shape_memory = row["line"].split(": ", 1)[1].split(" weights: ")[0]
        found = text.find(shape_memory, start)
        assert found >= 0, row["line"]
        positions.append(found)
        start = found + 1
    assert positions == sorted(positions)


def test_cli_table_says_the_notes_total_does_not_match(capsys):
    status = cli.main(["summary", str(preset_path("vgg16"))])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    text = squeeze(out)
    assert "CONV3-64: conv1_1 [224x224x64] memory: 224*224*64=3.2M weights: (3*3*3)*64 = 1,728" \
        in text
    assert "FC: fc6 [1x1x4096] memory: 4096 weights: 7*7*512*4096 = 102,760,448" in text
    assert "24M" in out and "93MB" in out  # quotes the notes' figure...
    assert "15,237,608" in out and "60.95 MB" in out  # ...and gives the real sum
    note = next(line for line in out.splitlines() if "24M" in line)
    assert "15,237,608" in note and "60.95 MB" in note
    assert "138,357,544" in out and "138,344,128" in out
