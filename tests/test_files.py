"""Files and the command line: every kind of malformed architecture or weights file gets one
clear line naming the place; saves are atomic; names are given and kept; ``convscope
summary`` and ``convscope run`` keep the spec's contract (section 4)."""

from __future__ import annotations

import copy
import csv
import errno
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from convscope import core
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path
from convscope.gui import cli

TINY = {
    "format": "convscope", "version": 1, "name": "tiny",
    "input": {"channels": 3, "height": 8, "width": 8},
    "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "conv", "name": "conv2", "filters": 4, "kernel": 3},
        {"type": "pool", "mode": "max", "kernel": 2},
        {"type": "fc", "units": 5},
    ],
}


def tiny(**changes) -> dict:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def write(tmp_path, data, name="net.json"):
    path = tmp_path / name
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, "utf-8")
    return path


def load_error(tmp_path, data) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConvScopeError) as info:
        Network.load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message  # names the file first
    assert "\n" not in message and "Traceback" not in message
    return message


# --------------------------------------------------------------------------- architecture
def test_not_json_names_line_and_column(tmp_path):
    message = load_error(tmp_path, '{\n  "format": "convscope",\n  "version": 1,,\n}')
    assert "not valid JSON" in message
    assert "line 3 column" in message


@pytest.mark.parametrize("text, words", [
    ("", "not valid JSON"),
    ("[1, 2]", "one JSON object"),
    ('"convscope"', "one JSON object"),
])
def test_not_an_object(tmp_path, text, words):
    assert words in load_error(tmp_path, text)


def test_not_text(tmp_path):
    path = tmp_path / "net.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConvScopeError, match="not a text file"):
        Network.load(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConvScopeError, match="no such file"):
        Network.load(tmp_path / "absent.json")
    with pytest.raises(ConvScopeError, match="folder"):
        Network.load(tmp_path)


MALFORMED = [
    # (what, the file's data as a change of TINY, words the message must hold)
    ("wrong format", {"format": "keras"}, ["'format'", "convscope", "keras"]),
    ("wrong version", {"version": 2}, ["'version' 2", "not supported"]),
    ("version as text", {"version": "1"}, ["'version'", "not supported"]),
    ("unknown top-level key", {"extra": 1}, ["unknown key 'extra'", "top level"]),
    ("layers not a list", {"layers": {"type": "relu"}}, ["layers", "list"]),
    ("input not an object", {"input": [3, 8, 8]}, ["input", "channels"]),
    ("input key missing", {"input": {"channels": 3, "height": 8}}, ["input", "'width'"]),
    ("input unknown key", {"input": {"channels": 3, "height": 8, "width": 8, "depth": 1}},
     ["input", "unknown key 'depth'"]),
    ("zero input height", {"input": {"channels": 3, "height": 0, "width": 8}},
     ["input", "'height'", "at least 1"]),
    ("bool channels", {"input": {"channels": True, "height": 8, "width": 8}},
     ["input", "'channels'", "whole number"]),
    ("mean of the wrong length", {"input": {"channels": 3, "height": 8, "width": 8,
                                            "mean": [0.5, 0.5]}},
     ["input", "'mean'", "3 numbers"]),
    ("std of the wrong length", {"input": {"channels": 3, "height": 8, "width": 8,
                                           "std": [0.2, 0.2, 0.2, 0.2]}},
     ["input", "'std'", "3 numbers"]),
    ("mean not numbers", {"input": {"channels": 3, "height": 8, "width": 8,
                                    "mean": ["a", "b", "c"]}}, ["input", "'mean'"]),
    ("std zero", {"input": {"channels": 3, "height": 8, "width": 8, "std": [1, 0, 1]}},
     ["input", "'std'", "positive"]),
    ("seed negative", {"seed": -1}, ["'seed'"]),
    ("name not text", {"name": 5}, ["'name'", "text"]),
    ("weights not text", {"weights": 1}, ["'weights'", "text"]),
]


@pytest.mark.parametrize("what, changes, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_top_level(tmp_path, what, changes, words):
    message = load_error(tmp_path, tiny(**changes))
    for word in words:
        assert word in message, (what, message)


def test_missing_format(tmp_path):
    data = tiny()
    del data["format"]
    assert "'format' must be \"convscope\"" in load_error(tmp_path, data)


def with_layer(index, layer):
    data = tiny()
    data["layers"][index] = layer
    return data


LAYER_ERRORS = [
    ("unknown type", with_layer(1, {"type": "maxout"}), "layers[1]",
     ["unknown layer type 'maxout'", "conv"]),
    ("no type", with_layer(1, {"filters": 3}), "layers[1]", ["unknown layer type None"]),
    ("layer not an object", with_layer(1, "relu"), "layers[1]", ["object"]),
    ("unknown key", with_layer(2, {"type": "conv", "name": "conv2", "filters": 4,
                                   "kernel": 3, "size": 3}),
     "layers[2] 'conv2'", ["unknown key 'size'", "'conv'", "filters"]),
    ("string kernel", with_layer(2, {"type": "conv", "name": "conv2", "filters": 4,
                                     "kernel": "3"}),
     "layers[2] 'conv2'", ["kernel", "whole number", "'3'"]),
    ("fractional kernel", with_layer(0, {"type": "conv", "filters": 4, "kernel": 2.5}),
     "layers[0]", ["kernel", "whole number", "2.5"]),
    ("bool filters", with_layer(0, {"type": "conv", "filters": True}), "layers[0]",
     ["filters", "whole number", "True"]),
    ("missing filters", with_layer(0, {"type": "conv", "kernel": 3}), "layers[0]",
     ["needs 'filters'"]),
    ("negative padding", with_layer(0, {"type": "conv", "filters": 4, "padding": -1}),
     "layers[0]", ["padding", "at least 0", "-1"]),
    ("zero stride", with_layer(3, {"type": "pool", "kernel": 2, "stride": 0}), "layers[3]",
     ["stride", "at least 1", "0"]),
    ("three sizes", with_layer(0, {"type": "conv", "filters": 4, "kernel": [3, 3, 3]}),
     "layers[0]", ["kernel", "[h, w]"]),
    ("padding word", with_layer(0, {"type": "conv", "filters": 4, "padding": "valid"}),
     "layers[0]", ["padding", "same", "'valid'"]),
    ("bias not a flag", with_layer(4, {"type": "fc", "units": 5, "bias": "yes"}), "layers[4]",
     ["bias", "true or false"]),
    ("unknown pool mode", with_layer(3, {"type": "pool", "mode": "min"}), "layers[3]",
     ["mode", "'max'", "'min'"]),
    ("dropout rate 1", with_layer(1, {"type": "dropout", "rate": 1.0}), "layers[1]",
     ["rate", "between"]),
    ("bad name", with_layer(1, {"type": "relu", "name": "my relu"}), "layers[1]",
     ["name", "'my relu'"]),
    # "input" names the network's input in forward() results: a layer taking it would
    # silently replace it there
    ("layer named input", with_layer(1, {"type": "relu", "name": "input"}), "layers[1]",
     ["'input' is the network's input"]),
    ("nested layer named input", with_layer(1, {"type": "concat", "branches": [
        [], [{"type": "relu", "name": "input"}]]}), "layers[1].branches[1][0]",
     ["'input'", "another name"]),
    ("nested in a body", with_layer(1, {"type": "residual", "body": [
        {"type": "conv", "filters": "four", "kernel": 3}]}), "layers[1].body[0]",
     ["filters", "'four'"]),
    ("nested named", with_layer(1, {"type": "residual", "body": [], "shortcut": [
        {"type": "conv", "name": "proj", "filters": 4, "stride": -2}]}),
     "layers[1].shortcut[0] 'proj'", ["stride", "-2"]),
    ("nested in a branch", with_layer(1, {"type": "concat", "branches": [
        [], [{"type": "relu"}, {"type": "lrn", "size": 0}]]}), "layers[1].branches[1][1]",
     ["size", "at least 1"]),
    ("body not a list", with_layer(1, {"type": "residual", "body": {"type": "relu"}}),
     "layers[1].body", ["list"]),
    ("no branches", with_layer(1, {"type": "concat", "branches": []}), "layers[1]",
     ["branches", "non-empty"]),
    ("branches on a residual", with_layer(1, {"type": "residual", "branches": [[]]}),
     "layers[1]", ["unknown key 'branches'"]),
]


@pytest.mark.parametrize("what, data, place, words", LAYER_ERRORS,
                         ids=[e[0] for e in LAYER_ERRORS])
def test_malformed_layer_names_the_place(tmp_path, what, data, place, words):
    path = write(tmp_path, data)
    with pytest.raises(ConvScopeError) as info:
        Network.load(path)
    assert info.value.place == place
    message = str(info.value)
    assert message.startswith(f"{path}: {place}: ")
    for word in words:
        assert word in message, (what, message)


@pytest.mark.parametrize("input_, words", [
    ({"channels": 3, "height": 1_000_000, "width": 1_000_000}, "'height' 1000000"),
    ({"channels": 10**9, "height": 8, "width": 8}, "'channels' 1000000000"),
])
def test_absurd_input_is_refused_before_anything_is_allocated(tmp_path, input_, words):
    path = write(tmp_path, tiny(input=input_))
    # Not a timed assert: the proof that nothing big was made is that the peak of memory
    # allocated while loading stays tiny (NumPy reports its buffers to tracemalloc).
    tracemalloc.start()
    try:
        with pytest.raises(ConvScopeError) as info:
            Network.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert words in str(info.value) and "absurdly large" in str(info.value)
    assert info.value.place == "input"


@pytest.mark.parametrize("layer, words", [
    ({"type": "conv", "filters": 4, "kernel": 100_000}, "kernel 100000 is absurdly large"),
    ({"type": "fc", "units": 10**12}, "units 1000000000000 is absurdly large"),
    ({"type": "conv", "filters": 4, "dilation": [1, 10**7]}, "dilation 10000000 is absurdly"),
])
def test_absurd_layer_sizes(tmp_path, layer, words):
    assert words in load_error(tmp_path, with_layer(0, layer))


def test_huge_but_legal_network_is_analysed_but_never_allocated():
    """Every size within its limit, yet terabytes of weights: the figures come out (integer
    arithmetic), and running or initialising it is refused with the figures, not tried."""
    net = Network.from_dict(tiny(input={"channels": 3, "height": 16384, "width": 16384},
                                 layers=[{"type": "fc", "units": 1 << 20}]))
    tracemalloc.start()
    try:
        totals = net.analyze().totals()
        with pytest.raises(ConvScopeError, match="GiB"):
            net.check_runnable()
        with pytest.raises(ConvScopeError, match="GiB"):
            net.ensure_weights()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert totals["weights"] == 3 * 16384 * 16384 * (1 << 20)
    assert peak < 1 << 20
    assert net.weights == {}


def test_duplicate_names(tmp_path):
    data = with_layer(1, {"type": "residual", "body": [{"type": "relu", "name": "conv2"}]})
    path = write(tmp_path, data)
    with pytest.raises(ConvScopeError) as info:
        Network.load(path)
    assert info.value.place == "layers[2]"  # the second in reading order...
    assert "'conv2' is used twice" in str(info.value)
    assert "first at layers[1].body[0]" in str(info.value)  # ...and where the first is


# --------------------------------------------------------------------------- names
def names(net):
    return [i.name for i in net.analyze().layers]


def test_automatic_names_count_per_type_and_skip_taken_ones(tmp_path):
    data = tiny(layers=[
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "conv", "name": "conv3", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "residual", "body": [{"type": "conv", "filters": 4, "kernel": 1},
                                      {"type": "relu"}]},
        {"type": "relu", "name": "relu5"},
        {"type": "conv", "filters": 4, "kernel": 1},
    ])
    net = Network.from_dict(data)
    assert names(net) == ["conv1", "relu1", "conv3", "relu2", "residual1", "conv4", "relu3",
                          "relu5", "conv5"]
    path = tmp_path / "named.json"
    net.save(path)
    saved = json.loads(path.read_text("utf-8"))
    assert [layer["name"] for layer in saved["layers"]] == [
        "conv1", "relu1", "conv3", "relu2", "residual1", "relu5", "conv5"]
    reloaded = Network.load(path)
    assert names(reloaded) == names(net)
    assert reloaded.to_dict() == net.to_dict()


def test_round_trip_keeps_every_value(tmp_path):
    data = tiny(description="a test", seed=7, layers=[
        {"type": "conv", "name": "a", "filters": 4, "kernel": [3, 1], "stride": [1, 2],
         "padding": "same", "dilation": [2, 1], "bias": False},
        {"type": "leaky_relu", "name": "b", "negative_slope": 0.2},
        {"type": "pool", "name": "c", "mode": "avg", "kernel": 3, "stride": 2, "padding": 1,
         "ceil_mode": True, "count_include_pad": False},
        {"type": "concat", "name": "d", "branches": [[], [{"type": "lrn", "name": "e",
                                                           "size": 3}]]},
        {"type": "residual", "name": "f", "body": [{"type": "batchnorm", "name": "g",
                                                    "eps": 0.001}]},
        {"type": "dropout", "name": "h", "rate": 0.3},
        {"type": "flatten", "name": "i"},
        {"type": "fc", "name": "j", "units": 3, "bias": False},
        {"type": "softmax", "name": "k"},
    ])
    data["input"]["mean"] = [0.1, 0.2, 0.3]
    data["input"]["std"] = [0.5, 0.5, 0.5]
    net = Network.from_dict(data)
    path = tmp_path / "all.json"
    net.save(path)
    again = Network.load(path)
    assert again.to_dict() == net.to_dict()
    assert again.description == "a test" and again.seed == 7
    assert again.input.mean == [0.1, 0.2, 0.3]
    assert again.find("layers[0]").values == net.find("layers[0]").values
    assert again.find("layers[3].branches[1][0]").values["size"] == 3


# --------------------------------------------------------------------------- weights
@pytest.fixture
def trained(tmp_path):
    """A network saved with its weights (random, so a reload is a real comparison)."""
    net = Network.from_dict(tiny(layers=TINY["layers"][:2] + [{"type": "batchnorm"}]
                                 + TINY["layers"][2:]))
    rng = np.random.default_rng(0)
    net.set_weights({k: rng.uniform(0.5, 1.5, s) if k.endswith("running_var")
                     else rng.normal(size=s) for k, s in net.param_shapes().items()})
    path = tmp_path / "trained.json"
    net.save(path, with_weights=True)
    return net, path


def test_weights_round_trip(trained, tmp_path):
    net, path = trained
    assert json.loads(path.read_text("utf-8"))["weights"] == "trained.npz"
    with np.load(tmp_path / "trained.npz") as data:
        assert set(data.files) == set(net.param_shapes())
        assert data["conv1.weight"].shape == (4, 3, 3, 3)  # PyTorch's layout
        assert data["batchnorm1.running_var"].shape == (4,)
    again = Network.load(path)
    assert set(again.weights) == set(net.weights)
    for key, value in net.weights.items():
        np.testing.assert_array_equal(again.weights[key], value)
        assert again.weights[key].dtype == np.float32
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(again.forward(x)["fc1"], net.forward(x)["fc1"])


def test_weights_without_a_file_follow_the_seed():
    """The spec's initialisation: He-normal conv/fc weights, zero biases, batchnorm 1/0/0/1;
    the same for the same seed, and one layer's weights do not move when another changes."""
    data = tiny(layers=[{"type": "conv", "filters": 64, "kernel": 3},
                        {"type": "batchnorm"}, {"type": "fc", "units": 300}])
    net = Network.from_dict(data)
    net.ensure_weights()
    w = net.weights
    assert abs(w["conv1.weight"].std() - np.sqrt(2 / 27)) < 0.1 * np.sqrt(2 / 27)
    assert abs(w["fc1.weight"].std() - np.sqrt(2 / (64 * 36))) < 0.05 * np.sqrt(2 / 2304)
    assert not w["conv1.bias"].any() and not w["fc1.bias"].any()
    assert (w["batchnorm1.weight"] == 1).all() and not w["batchnorm1.bias"].any()
    assert not w["batchnorm1.running_mean"].any() and (w["batchnorm1.running_var"] == 1).all()
    same = Network.from_dict(data)
    same.ensure_weights()
    for key in w:
        np.testing.assert_array_equal(same.weights[key], w[key])
    other = Network.from_dict({**data, "seed": 1})
    other.ensure_weights()
    assert not np.array_equal(other.weights["conv1.weight"], w["conv1.weight"])
    data["layers"][2]["units"] = 10  # edit the fc: the conv keeps its weights
    edited = Network.from_dict(data)
    edited.ensure_weights()
    np.testing.assert_array_equal(edited.weights["conv1.weight"], w["conv1.weight"])
    assert edited.weights["fc1.weight"].shape == (10, 2304)


def broken_weights(tmp_path, net, change):
    arrays = net.state_dict()
    change(arrays)
    path = tmp_path / "broken.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("change, words", [
    (lambda a: a.pop("conv2.bias"), ["conv2.bias", "missing", "(4,)"]),
    (lambda a: a.update({"conv9.weight": np.zeros(3)}), ["conv9.weight", "unexpected"]),
    (lambda a: a.update({"conv1.weight": np.zeros((4, 3, 5, 5), np.float32)}),
     ["conv1.weight", "(4, 3, 5, 5)", "(4, 3, 3, 3)"]),
    (lambda a: a.update({"fc1.weight": np.zeros((5, 35), np.float32)}),
     ["fc1.weight", "(5, 35)", "(5, 36)"]),
    (lambda a: a.update({"conv1.bias": np.array(["a", "b", "c", "d"])}),
     ["conv1.bias", "numbers"]),
], ids=["missing key", "extra key", "wrong conv shape", "wrong fc shape", "not numbers"])
def test_bad_weights_file_loads_nothing(trained, tmp_path, change, words):
    net, _ = trained
    before = {k: v.copy() for k, v in net.weights.items()}
    path = broken_weights(tmp_path, net, change)
    with pytest.raises(ConvScopeError) as info:
        net.load_weights(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for word in words:
        assert word in message, message
    assert set(net.weights) == set(before)  # nothing loaded partially
    for key, value in before.items():
        np.testing.assert_array_equal(net.weights[key], value)


def test_architecture_naming_a_bad_weights_file(trained, tmp_path):
    net, path = trained
    broken_weights(tmp_path, net, lambda a: a.pop("fc1.bias"))
    data = json.loads(path.read_text("utf-8"))
    data["weights"] = "broken.npz"
    with pytest.raises(ConvScopeError, match=r"broken\.npz.*fc1\.bias"):
        Network.load(write(tmp_path, data, "uses_broken.json"))
    data["weights"] = "absent.npz"
    with pytest.raises(ConvScopeError, match="not found"):
        Network.load(write(tmp_path, data, "uses_absent.json"))
    (tmp_path / "text.npz").write_text("not a zip")
    data["weights"] = "text.npz"
    with pytest.raises(ConvScopeError, match="not a readable .npz"):
        Network.load(write(tmp_path, data, "uses_text.json"))


# --------------------------------------------------------------------------- atomic saves
def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_rename_leaves_the_old_file_whole(trained, tmp_path, monkeypatch):
    net, path = trained
    before = snapshot(tmp_path)
    net.name = "changed"

    def refuse(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ConvScopeError, match="cannot write: Permission denied"):
        net.save(path)
    assert snapshot(tmp_path) == before  # byte-identical, and no temporary file left


def test_failure_while_writing_weights_leaves_both_files_whole(trained, tmp_path,
                                                               monkeypatch):
    net, path = trained
    before = snapshot(tmp_path)
    for value in net.weights.values():
        value += 1

    def disk_full(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(core.fileio.np, "savez", disk_full)
    with pytest.raises(ConvScopeError, match="No space left"):
        net.save(path)
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    net.save(path)  # and the next save works
    assert snapshot(tmp_path) != before
    assert sorted(snapshot(tmp_path)) == sorted(before)


def test_save_into_a_missing_folder(tmp_path):
    net = Network.from_dict(tiny())
    with pytest.raises(ConvScopeError, match="cannot write"):
        net.save(tmp_path / "no" / "such" / "net.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saves_keep_ordinary_permissions(tmp_path):
    """A saved file is as readable as any file the user writes (not the 0600 of a raw
    temporary file), and overwriting keeps the old file's permissions."""
    umask = os.umask(0o022)
    try:
        net = Network.from_dict(tiny())
        fresh = tmp_path / "fresh.json"
        net.save(fresh, with_weights=True)
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "fresh.npz").stat().st_mode) == 0o644
        shared = tmp_path / "shared.json"
        shared.write_text("{}")
        shared.chmod(0o664)
        net.save(shared)
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    finally:
        os.umask(umask)


# --------------------------------------------------------------------------- CLI: summary
def run_cli(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_summary_json_matches_the_spec_example(capsys):
    status, out, err = run_cli(capsys, "summary", preset_path("vgg16"), "--format", "json")
    assert status == 0 and err == ""
    data = json.loads(out)
    assert data["name"] == "VGG16"
    assert data["input"] == [3, 224, 224]
    spec_first = {"name": "conv1_1", "type": "conv", "path": "layers[0]",
                  "output": [64, 224, 224], "activations": 3211264, "weights": 1728,
                  "params": 1792, "macs": 86704128, "receptive_field": [3, 3],
                  "jump": [1, 1], "diagnostics": []}
    assert {k: data["layers"][0][k] for k in spec_first} == spec_first
    assert data["totals"] == {"params": 138357544, "weights": 138344128,
                              "activations": 15237608, "macs": 15470264320,
                              "forward_bytes": 60950432}
    # no warning; one note, the notes' own point about VGG: its fc layers hold most parameters
    assert [(d["severity"], d["layer"], d["rule"]) for d in data["diagnostics"]] == [
        ("info", "fc6", "lint:fc-heavy")]
    assert len(data["layers"]) == 38  # 13 conv, 13 relu, 5 pool, 3 fc, 2 relu, 2 dropout


def test_summary_json_lists_diagnostics(capsys, tmp_path):
    path = write(tmp_path, tiny(input={"channels": 3, "height": 9, "width": 9}))
    status, out, _ = run_cli(capsys, "summary", path, "--format", "json")
    assert status == 0  # warnings are allowed
    diagnostics = json.loads(out)["diagnostics"]
    assert diagnostics and {"severity", "path", "layer", "message"} <= set(diagnostics[0])
    warning = next(d for d in diagnostics if d["severity"] != "info")  # lints come as notes
    assert warning["severity"] == "warning" and warning["layer"] == "pool1"


def test_summary_csv(capsys):
    status, out, err = run_cli(capsys, "summary", preset_path("alexnet"), "--format", "csv")
    assert status == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    conv1 = next(r for r in rows if r["name"] == "conv1")
    assert conv1["output"] == "55x55x96" and conv1["weights"] == "34848"
    assert conv1["params"] == "34944" and conv1["macs"] == "105415200"
    total = rows[-1]
    assert total["name"] == "TOTAL" and total["params"] == "62378344"


def test_summary_markdown(capsys):
    status, out, err = run_cli(capsys, "summary", preset_path("lenet5"), "--format",
                               "markdown")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "# LeNet-5"
    table = [line for line in lines if line.startswith("|")]
    assert table[1].startswith("|---")
    assert any(line.startswith("| c1 | conv | 28x28x6 |") for line in table)
    assert "61,706" in table[-1]


def test_summary_table_is_the_default(capsys):
    status, out, err = run_cli(capsys, "summary", preset_path("alexnet"))
    assert status == 0 and err == ""
    assert "CONV11-96:" in out and "[55x55x96]" in out and "(11*11*3)*96 = 34,848" in out


def test_summary_of_a_network_with_an_error_exits_1(capsys, tmp_path):
    data = with_layer(2, {"type": "conv", "name": "conv2", "filters": 4, "kernel": 3,
                          "groups": 3})
    path = write(tmp_path, data)
    for fmt in ("table", "json", "csv", "markdown"):
        status, out, err = run_cli(capsys, "summary", path, "--format", fmt)
        assert status == 1, fmt
        assert "not divisible by groups 3" in out
    status, out, _ = run_cli(capsys, "summary", path, "--format", "json")
    blocked = [layer for layer in json.loads(out)["layers"] if layer.get("blocked_by")]
    assert [layer["path"] for layer in blocked] == ["layers[3]", "layers[4]"]
    assert all(layer["output"] is None for layer in blocked)


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    ("{oops", "not valid JSON"),
    (json.dumps(with_layer(2, {"type": "conv", "name": "conv2", "filters": 4, "kernel": 3,
                               "colour": 1})), "layers[2] 'conv2': unknown key 'colour'"),
    (json.dumps(with_layer(1, {"type": "relu", "name": "input"})),
     "layers[1]: 'input' is the network's input; a layer needs another name"),
])
def test_summary_of_an_unreadable_file_exits_2_with_one_line(capsys, tmp_path, content,
                                                             words):
    path = tmp_path / "net.json"
    if content is not None:
        path.write_text(content)
    status, out, err = run_cli(capsys, "summary", path)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and words in err and str(path) in err
    assert "Traceback" not in err


def convscope_command():
    found = shutil.which("convscope")
    return [found] if found else [sys.executable, "-m", "convscope.gui.cli"]


def test_installed_command_exit_codes(tmp_path):
    """The real process: exit status and stderr as a shell script sees them."""
    bad = write(tmp_path, "[", "bad.json")
    broken = write(tmp_path, with_layer(0, {"type": "conv", "filters": 4, "kernel": 20}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    results = {}
    for key, path in (("ok", preset_path("lenet5")), ("error", broken), ("bad", bad)):
        done = subprocess.run([*convscope_command(), "summary", str(path)], env=env,
                              capture_output=True, text=True, timeout=120)
        results[key] = done
    assert results["ok"].returncode == 0 and "TOTAL params: 61,706" in results["ok"].stdout
    assert results["error"].returncode == 1
    assert "kernel 20 is larger" in results["error"].stdout
    assert results["bad"].returncode == 2
    assert results["bad"].stderr.count("\n") == 1 and "Traceback" not in results["bad"].stderr
    assert "bad.json" in results["bad"].stderr and "line 1" in results["bad"].stderr


# --------------------------------------------------------------------------- CLI: run
NESTED = tiny(layers=[
    {"type": "conv", "name": "stem", "filters": 4, "kernel": 3, "padding": 1},
    {"type": "residual", "name": "res", "body": [
        {"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "batchnorm"}],
     "shortcut": []},
    {"type": "concat", "name": "cat", "branches": [
        [], [{"type": "pool", "mode": "avg", "kernel": 3, "stride": 1, "padding": 1}]]},
    {"type": "global_avg_pool"},
    {"type": "fc", "units": 3},
    {"type": "softmax"},
])


def test_run_with_an_array_writes_every_layer(capsys, tmp_path):
    arch = write(tmp_path, NESTED)
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))  # float64: converted
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "acts.npz"
    status, stdout, err = run_cli(capsys, "run", arch, "--input", tmp_path / "x.npy",
                                  "--out", out)
    assert status == 0 and err == ""
    net = Network.load(arch)
    expected = net.forward(x.astype(np.float32))
    every_name = [i.name for i in net.analyze().layers]
    assert "conv2" in every_name and "batchnorm1" in every_name  # nested ones too
    with np.load(out) as acts:
        assert set(acts.files) == {"input", *every_name}
        for key in acts.files:
            assert acts[key].dtype == np.float32 and acts[key].ndim == 4, key
            assert acts[key].shape[0] == 2
            np.testing.assert_array_equal(acts[key], expected[key], err_msg=key)
        assert acts["softmax1"].shape == (2, 3, 1, 1)
        np.testing.assert_allclose(acts["softmax1"].sum(axis=1), 1, rtol=1e-6)


def test_run_with_weights_and_a_single_image_array(capsys, trained, tmp_path):
    net, path = trained
    np.save(tmp_path / "one.npy", np.ones((3, 8, 8), np.float32))  # (C, H, W): N = 1
    plain = write(tmp_path, tiny(layers=TINY["layers"][:2] + [{"type": "batchnorm"}]
                                 + TINY["layers"][2:]), "plain.json")
    status, _, err = run_cli(capsys, "run", plain, "--input", tmp_path / "one.npy", "--out",
                             tmp_path / "acts.npz", "--weights", tmp_path / "trained.npz")
    assert status == 0 and err == ""
    with np.load(tmp_path / "acts.npz") as acts:
        want = net.forward(np.ones((1, 3, 8, 8), np.float32))["fc1"]
        np.testing.assert_array_equal(acts["fc1"], want)


def write_png(path, pixels: np.ndarray) -> None:
    """Save (H, W) grey or (H, W, 3) RGB uint8 pixels as a PNG through Qt."""
    from PySide6.QtGui import QImage

    h, w = pixels.shape[:2]
    rgb = pixels.ndim == 3
    data = np.ascontiguousarray(pixels).tobytes()
    fmt = QImage.Format.Format_RGB888 if rgb else QImage.Format.Format_Grayscale8
    image = QImage(data, w, h, w * (3 if rgb else 1), fmt)
    assert image.save(str(path), "PNG")


def test_run_with_an_image_for_lenet5(capsys, tmp_path):
    pixels = (np.arange(32 * 32).reshape(32, 32) * 7 % 256).astype(np.uint8)
    write_png(tmp_path / "digit.png", pixels)
    out = tmp_path / "acts.npz"
    status, _, err = run_cli(capsys, "run", preset_path("lenet5"), "--image",
                             tmp_path / "digit.png", "--out", out)
    assert status == 0 and err == ""
    x = ((pixels / 255.0 - 0.5) / 0.5).astype(np.float32)[None, None]  # mean 0.5, std 0.5
    net = Network.load(preset_path("lenet5"))
    expected = net.forward(x)
    with np.load(out) as acts:
        assert acts["input"].shape == (1, 1, 32, 32)
        np.testing.assert_allclose(acts["input"], x, atol=1e-6)
        assert set(acts.files) == set(expected)
        np.testing.assert_allclose(acts["output"], expected["output"], rtol=1e-5, atol=1e-6)


def test_run_with_a_colour_image_keeps_rgb_order(capsys, tmp_path):
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[..., 0] = 255  # red
    pixels[:, 4:, 2] = 51  # a little blue on the right half
    write_png(tmp_path / "red.png", pixels)
    arch = write(tmp_path, tiny(layers=[{"type": "relu"}]))
    status, _, err = run_cli(capsys, "run", arch, "--image", tmp_path / "red.png", "--out",
                             tmp_path / "acts.npz")
    assert status == 0 and err == ""
    with np.load(tmp_path / "acts.npz") as acts:
        x = acts["input"][0]
    np.testing.assert_allclose(x[0], 1.0)
    np.testing.assert_allclose(x[1], 0.0)
    np.testing.assert_allclose(x[2, :, :4], 0.0)
    np.testing.assert_allclose(x[2, :, 4:], 0.2, atol=1e-6)


def npy_header_only(path, shape) -> None:
    """An .npy that declares float32 ``shape`` and holds no data (a hostile or cut file)."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": shape})


def test_run_refuses_an_input_array_by_its_header_before_reading_it(capsys, tmp_path):
    """--input checks the .npy's declared shape and size before allocating: a header that
    declares 447 GiB raised NumPy's MemoryError (a traceback); a picture given as --input
    says it is not an .npy and names --image."""
    good = write(tmp_path, TINY, "good.json")
    out = tmp_path / "a.npz"
    # (1, 3, 200000, 200000) float32: 4 · 3 · 200000² bytes = 447 GiB, not the (3, 8, 8) input
    npy_header_only(tmp_path / "huge.npy", (1, 3, 200000, 200000))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "huge.npy", "--out", out)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "huge.npy" in err and "(1, 3, 200000, 200000)" in err
    # the input's shape, but 2^25 images: 2^25 · 3 · 8 · 8 · 4 bytes = 24 GiB, over the 6 GiB budget
    npy_header_only(tmp_path / "many.npy", (1 << 25, 3, 8, 8))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "many.npy", "--out", out)
    assert status == 2 and err.count("\n") == 1 and "24.0 GiB" in err and "budget" in err
    # a header with its data cut off
    npy_header_only(tmp_path / "cut.npy", (1, 3, 8, 8))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "cut.npy", "--out", out)
    assert status == 2 and err.count("\n") == 1 and "cut.npy" in err
    write_png(tmp_path / "picture.png", np.zeros((8, 8, 3), np.uint8))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "picture.png",
                             "--out", out)
    assert status == 2 and err.count("\n") == 1 and "--image" in err
    assert "pickle" not in err  # NumPy's own advice, which does not apply to a PNG
    assert not out.exists()


def test_run_failures(capsys, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 8, 8), np.float32))
    broken = write(tmp_path, with_layer(0, {"type": "conv", "filters": 4, "kernel": 20}),
                   "broken.json")
    status, _, err = run_cli(capsys, "run", broken, "--input", x, "--out", tmp_path / "a.npz")
    assert status == 1 and "kernel 20 is larger" in err and err.count("\n") == 1
    assert not (tmp_path / "a.npz").exists()

    good = write(tmp_path, TINY, "good.json")
    np.save(tmp_path / "wrong.npy", np.zeros((1, 3, 9, 9), np.float32))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "wrong.npy", "--out",
                             tmp_path / "a.npz")
    assert status == 2 and "(1, 3, 9, 9)" in err and err.count("\n") == 1
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    status, _, err = run_cli(capsys, "run", good, "--input", tmp_path / "text.npy", "--out",
                             tmp_path / "a.npz")
    assert status == 2 and "numeric" in err
    status, _, err = run_cli(capsys, "run", good, "--image", tmp_path / "x.npy", "--out",
                             tmp_path / "a.npz")
    assert status == 2 and "not an image" in err
    status, _, err = run_cli(capsys, "run", good, "--input", x, "--out",
                             tmp_path / "missing" / "a.npz")
    assert status == 2 and "cannot write" in err
    assert not (tmp_path / "a.npz").exists()
    assert "Traceback" not in err
