"""Class names (core.labels): a labels file beside the architecture file, ImageNet's 1000
names for a 1000-class output, and the names an ONNX model's metadata carries written by
``convscope import``."""

from __future__ import annotations

import os

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.labels import (
    IMAGENET_FILE,
    class_names,
    labels_path,
    names_from_metadata,
    network_class_names,
    read_labels,
)
from convscope.core.presets import ARCHITECTURES, preset_path
from convscope.gui.cli import main


def write(path, text):
    path.write_text(text, "utf-8")
    return path


def test_a_labels_file_beside_the_architecture(tmp_path):
    arch = tmp_path / "net.json"
    assert labels_path(arch) == tmp_path / "net.labels.txt"
    write(tmp_path / "net.labels.txt", "cat\n  dog \nfish\n\n")  # spaces, a trailing blank
    names = class_names(arch, 3)
    assert names.names == ("cat", "dog", "fish") and names.problem == ""
    assert names.source == str(tmp_path / "net.labels.txt")
    assert [names.label(k) for k in (0, 2)] == ["cat (0)", "fish (2)"]


def test_a_labels_file_of_the_wrong_count_is_ignored_saying_why(tmp_path):
    write(tmp_path / "net.labels.txt", "cat\ndog\n")
    names = class_names(tmp_path / "net.json", 3)
    assert names.names == ()
    assert names.problem == ("net.labels.txt has 2 names but the network has 3 outputs; "
                             "class numbers shown instead")
    assert "\n" not in names.problem
    assert names.label(1) == "class 1"


def test_no_labels_file_means_class_numbers(tmp_path):
    names = class_names(tmp_path / "net.json", 3)
    assert names.names == () and names.problem == "" and names.label(2) == "class 2"
    assert class_names(None, 3).names == ()


def test_a_labels_file_with_an_empty_line_is_refused(tmp_path):
    path = write(tmp_path / "net.labels.txt", "cat\n\ndog\n")
    with pytest.raises(ConvScopeError, match=r"net\.labels\.txt: line 2 is empty"):
        read_labels(path)
    assert "line 2 is empty" in class_names(tmp_path / "net.json", 2).problem


def test_the_labels_file_is_read_again_when_it_changes(tmp_path):
    path = write(tmp_path / "net.labels.txt", "a\nb\n")
    assert class_names(tmp_path / "net.json", 2).names == ("a", "b")
    write(path, "first\nsecond\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert class_names(tmp_path / "net.json", 2).names == ("first", "second")


def test_imagenets_thousand_names_for_a_thousand_outputs(tmp_path):
    names = read_labels(IMAGENET_FILE)
    assert len(names) == len(set(names)) == 1000
    assert (names[0], names[1], names[281], names[999]) == (
        "tench", "goldfish", "tabby", "toilet tissue")
    got = class_names(tmp_path / "imported.json", 1000)
    assert got.names == tuple(names) and got.label(281) == "tabby (281)"
    # a labels file of the wrong count: ImageNet's names, and the reason it was not used
    write(tmp_path / "imported.labels.txt", "a\nb\n")
    got = class_names(tmp_path / "imported.json", 1000)
    assert got.names[0] == "tench" and "has 2 names but the network has 1000" in got.problem
    # the bundled ImageNet presets, opened as an unsaved copy, get them too
    alexnet = Network.load(preset_path("alexnet"), weights=False)
    assert network_class_names(None, alexnet.name, 1000).label(0) == "tench (0)"


def test_the_trained_preset_finds_its_labels_by_name_when_unsaved():
    net = Network.load(ARCHITECTURES / "shapes_cnn.json", weights=False)
    names = network_class_names(None, net.name, net.analyze().output[0])
    assert names.names == tuple(read_labels(ARCHITECTURES / "shapes_cnn.labels.txt"))
    assert network_class_names(None, "some other name", len(names.names)).names == ()


@pytest.mark.parametrize(("meta", "expected"), [
    ({"class_names": '["cat", "dog"]'}, ["cat", "dog"]),
    ({"names": "{0: 'person', 1: 'bicycle', 2: 'car'}"}, ["person", "bicycle", "car"]),
    ({"labels": "cat\ndog\nfish"}, ["cat", "dog", "fish"]),
    ({"names": "{0: 'a', 2: 'c'}"}, []),  # a gap: not a list of classes
    ({"author": "someone"}, []),
    ({"classes": "42"}, []),
])
def test_names_from_onnx_metadata(meta, expected):
    assert names_from_metadata(meta) == expected


def lenet_onnx(tmp_path, meta: dict):
    import onnx
    from convscope.core.interop import export

    path = tmp_path / "lenet.onnx"
    export(Network.load(preset_path("lenet5")), path)
    model = onnx.load(str(path))
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_import_writes_the_labels_its_metadata_carries(tmp_path, capsys):
    pytest.importorskip("onnx")
    digits = [f"digit {k}" for k in range(10)]
    model = lenet_onnx(tmp_path, {"class_names": repr(digits)})
    assert main(["import", str(model), str(tmp_path / "lenet.json")]) == 0
    assert read_labels(tmp_path / "lenet.labels.txt") == digits
    assert "lenet.labels.txt: 10 class names" in capsys.readouterr().out
    assert class_names(tmp_path / "lenet.json", 10).label(7) == "digit 7 (7)"


def test_import_leaves_out_labels_of_the_wrong_count_saying_why(tmp_path, capsys):
    pytest.importorskip("onnx")
    model = lenet_onnx(tmp_path, {"class_names": '["a", "b"]'})
    assert main(["import", str(model), str(tmp_path / "lenet.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names 2 classes but the network has 10 outputs" in err
    assert not (tmp_path / "lenet.labels.txt").exists()
    assert (tmp_path / "lenet.json").exists()
