"""The architecture diagram (SVG and PNG) and the summary exports (CSV, Markdown)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from convscope.core import Network, fmt_shape
from convscope.core.interop import diagram
from convscope.core.network import iter_layers
from convscope.core.presets import preset_path, preset_paths
from convscope.gui.cli import main

SVG = "{http://www.w3.org/2000/svg}"


def layer_groups(root):
    return [g for g in root.iter(f"{SVG}g") if "layer" in g.get("class", "").split()]


def shape_text(group):
    """The group's own shape label (not that of a layer nested inside a block)."""
    texts = [t for t in group.findall(f"{SVG}text") if t.get("class") == "shape"]
    assert len(texts) == 1
    return texts[0].text


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
def test_svg_has_one_group_per_layer_with_its_shape(path):
    net = Network.load(path, weights=False)
    root = ET.fromstring(diagram.to_svg(net))  # well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    report = net.analyze()
    groups = layer_groups(root)
    assert [g.get("data-name") for g in groups] == [i.name for i in report.layers]
    for group, info in zip(groups, report.layers):
        assert shape_text(group) == fmt_shape(info.out)
        assert group.get("data-type") == info.type
        assert group.get("data-path") == info.path
    assert net.name in "".join(root.itertext())


def test_blocks_hold_their_layers_and_boxes_are_to_scale():
    net = Network.load(preset_path("resnet18"), weights=False)
    root = ET.fromstring(diagram.to_svg(net))
    block = next(g for g in layer_groups(root) if g.get("data-name") == "layer2_0")
    inner = [g.get("data-name") for g in layer_groups(block)]
    assert inner[0] == "layer2_0" and "layer2_0_downsample_0" in inner
    assert block.find(f"{SVG}circle") is not None  # the ⊕ where body and shortcut meet

    def face(name):
        group = next(g for g in layer_groups(root) if g.get("data-name") == name)
        rect = group.find(f"{SVG}rect")
        return float(rect.get("width")), float(rect.get("height"))

    # conv1: 112×112×64, layer4_1_conv2: 7×7×512; thickness 2 + 1.5·√C, height 4 + 8·√H:
    # (2 + 1.5·8, 4 + 8·√112) = (14.0, 88.66) and (2 + 1.5·√512, 4 + 8·√7) = (35.94, 25.17)
    assert face("conv1") == pytest.approx((14.0, 88.66), abs=0.05)
    assert face("layer4_1_conv2") == pytest.approx((35.94, 25.17), abs=0.05)


def test_svg_survives_odd_names_and_a_network_with_an_error():
    net = Network.from_dict({
        "format": "convscope", "version": 1, "name": "<b>Tom & \"Jerry\"</b>",
        "input": {"channels": 3, "height": 8, "width": 8},
        "layers": [{"type": "conv", "filters": 4, "kernel": 3},
                   {"type": "concat", "branches": [[{"type": "conv", "filters": 2,
                                                     "kernel": 20}], []]}]})
    root = ET.fromstring(diagram.to_svg(net))
    assert "<b>Tom & \"Jerry\"</b>" in "".join(root.itertext())
    groups = layer_groups(root)
    assert len(groups) == len(list(iter_layers(net.layers))) == 3
    assert [shape_text(g) for g in groups] == ["6x6x4", "error", "error"]


def test_cli_exports_svg(tmp_path):
    out = tmp_path / "alexnet.svg"
    assert main(["export", str(preset_path("alexnet")), str(out)]) == 0
    root = ET.parse(out).getroot()
    assert len(layer_groups(root)) == 22


def test_png_is_the_svg_rendered(qapp, tmp_path):
    from convscope.gui import diagram_png
    from PySide6.QtGui import QColor, QImage

    net = Network.load(preset_path("lenet5"), weights=False)
    root = ET.fromstring(diagram.to_svg(net))
    width, height = float(root.get("width")), float(root.get("height"))
    out = tmp_path / "lenet.png"
    diagram_png.export(net, out, scale=2.0)
    assert out.stat().st_size > 1000
    image = QImage(str(out))
    assert (image.width(), image.height()) == (round(2 * width), round(2 * height))
    # the conv boxes are drawn: some pixel has the conv colour, the corner is white
    colours = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3)
               for y in range(0, image.height(), 3)}
    assert QColor(diagram.COLOURS["CONV"]).name() in colours
    assert image.pixelColor(0, 0).name() == "#ffffff"


def test_cli_exports_png(qapp, tmp_path):
    from PySide6.QtGui import QImage

    out = tmp_path / "googlenet.png"
    assert main(["export", str(preset_path("googlenet")), str(out)]) == 0
    image = QImage(str(out))
    assert not image.isNull() and image.width() > 1000


def test_cli_exports_summary_csv(tmp_path):
    out = tmp_path / "vgg16.csv"
    assert main(["export", str(preset_path("vgg16")), str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert rows[0]["name"] == "input" and rows[0]["output"] == "224x224x3"
    conv = rows[1]
    assert (conv["name"], conv["output"], conv["params"], conv["macs"]) == (
        "conv1_1", "224x224x64", "1792", "86704128")  # (3·3·3 + 1)·64; 1728 · 224²
    assert rows[-1]["name"] == "TOTAL" and rows[-1]["params"] == "138357544"
    assert len(rows) == 1 + 38 + 1


def test_cli_exports_summary_markdown(tmp_path):
    out = tmp_path / "vgg16.md"
    assert main(["export", str(preset_path("vgg16")), str(out)]) == 0
    text = out.read_text("utf-8")
    assert text.startswith("# VGG16")
    assert "| conv1_1 | conv | 224x224x64 | 3,211,264 | 1,728 | 1,792 | 86,704,128 |" in text
    assert "TOTAL params: 138,357,544" in text


def test_unknown_suffix_is_refused(tmp_path, capsys):
    assert main(["export", str(preset_path("lenet5")), str(tmp_path / "x.gif")]) == 2
    assert "use .onnx, .py, .svg, .png, .csv or .md" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_interop_modules_load_no_qt_and_no_optional_library():
    """core/interop imports NumPy only; onnx, onnxruntime and torch load when used."""
    code = ("import sys\n"
            "import core.interop, core.interop.onnx_export, core.interop.onnx_import\n"
            "import core.interop.torch_source, core.interop.diagram\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'shiboken6', "
            "'pyqtgraph', 'onnx', 'onnxruntime', 'torch'}))\n")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
