"""Files made to hurt (issue 10): each is refused with one ConvScopeError line, before
anything big is allocated, and never hangs or recurses; the command line exits 2 with one
line on stderr. A property-based test feeds random JSON-like values and random bytes to the
readers and accepts no other exception."""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest
from convscope.core import REGISTRY, ConvScopeError, Network, fileio
from convscope.gui import cli
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

TINY = {
    "format": "convscope", "version": 1, "name": "tiny",
    "input": {"channels": 3, "height": 8, "width": 8},
    "layers": [{"type": "conv", "name": "conv1", "filters": 4, "kernel": 3},
               {"type": "fc", "name": "fc1", "units": 5}],
}


def tiny(**changes) -> dict:
    return {**json.loads(json.dumps(TINY)), **changes}


def refused(call, *words) -> str:
    """The ConvScopeError ``call`` raises, checked to be one line holding ``words``, with
    less than 1 MiB allocated on the way (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        with pytest.raises(ConvScopeError) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, message
    assert peak < 1 << 20
    return message


def npy_header(shape, dtype="<f4") -> bytes:
    """An .npy version 1.0 header declaring ``shape``, with no data after it."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


# ============================================================================ sizes declared
TERABYTES = (1 << 20, 1 << 20)  # 4 TiB of float32


def test_an_npz_declaring_terabytes_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conv1.weight.npy", npy_header(TERABYTES))
    refused(lambda: fileio.read_npz(path), "4,096.0 GiB", "budget", str(path))
    with zipfile.ZipFile(path, "w") as archive:  # every key, one of them absurd
        for key, shape in (("conv1.weight", TERABYTES), ("conv1.bias", (4,)),
                           ("fc1.weight", (5, 144)), ("fc1.bias", (5,))):
            archive.writestr(f"{key}.npy", npy_header(shape))
    net = Network.from_dict(TINY)  # through a network: its shapes refuse it first
    refused(lambda: net.load_weights(path), "conv1.weight", "(1048576, 1048576)")


def test_an_npy_declaring_terabytes_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header(TERABYTES))
    refused(lambda: fileio.read_npy(path), "GiB", "budget")


def test_an_npz_holding_objects_or_other_members_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", b"hello")
    refused(lambda: fileio.read_npz(path), "readme.txt", "not an array")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", npy_header((2,), "|O"))
    refused(lambda: fileio.read_npz(path), "objects")


# ============================================================================ not regular files
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
@pytest.mark.parametrize("which", ["weights", "architecture"])
def test_a_fifo_is_refused_without_hanging(tmp_path, which):
    """A reader used to open the FIFO and wait for a writer for ever. Here a writer is
    standing by so that an old reader would not hang the test but still fail it."""
    fifo = tmp_path / ("w.npz" if which == "weights" else "net.json")
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: os.close(os.open(fifo, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        if which == "weights":
            arch = tmp_path / "uses_fifo.json"
            arch.write_text(json.dumps(tiny(weights="w.npz")))
            message = refused(lambda: Network.load(arch), "not a regular file")
        else:
            message = refused(lambda: Network.load(fifo), "not a regular file")
        assert str(fifo) in message
    finally:  # a reader held open until the writer is through releases it, whatever happened
        release = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer.join()
        os.close(release)


# ============================================================================ JSON that hurts
def nested(depth: int) -> str:
    """An architecture whose one layer is ``depth`` residual blocks, one inside the next
    (written as text: ``json.dumps`` itself recurses)."""
    layer = '{"type": "residual", "body": [' * depth + '{"type": "relu"}' + "]}" * depth
    return json.dumps(tiny(layers=[])).replace('"layers": []', f'"layers": [{layer}]')


@pytest.mark.parametrize("text, words", [
    ('{"format": "convscope", "version": 1, "seed": ' + "7" * 5000 + "}", ["digits"]),
    ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
], ids=["5000-digit integer", "100000 brackets"])
def test_json_that_python_cannot_parse_is_one_line(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    refused(lambda: Network.load(path), str(path), *words)


def test_layers_nested_hundreds_deep_meet_a_depth_limit(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(nested(400))
    refused(lambda: Network.load(path), "nested more than", "layers")
    Network.from_dict(json.loads(nested(60))).analyze()  # a deep but sane network reads


@pytest.mark.parametrize("where", ["name", "description"])
def test_a_lone_surrogate_is_refused_when_reading(tmp_path, where):
    """It used to load, then fail at the next save (UnicodeEncodeError)."""
    path = tmp_path / "net.json"
    path.write_text(json.dumps(tiny(**{where: "net \ud800"}), ensure_ascii=True))
    refused(lambda: Network.load(path), "surrogate")


@pytest.mark.parametrize("key, text", [
    ("mean", "[NaN, 0, 0]"), ("std", "[1, Infinity, 1]"), ("mean", "[1e999, 0, 0]"),
    ("std", "[1, 1, -Infinity]"),
])
def test_non_finite_mean_and_std_are_refused(tmp_path, key, text):
    data = json.dumps(tiny(input={"channels": 3, "height": 8, "width": 8, key: [0, 0, 0]}))
    path = tmp_path / "net.json"
    path.write_text(data.replace("[0, 0, 0]", text))
    refused(lambda: Network.load(path), "input", key, "finite")


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret.npz", "sub/../../x.npz",
                                  "C:\\w.npz", "..\\w.npz", ""])
def test_a_weights_path_outside_the_folder_is_refused(tmp_path, name):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(tiny(weights=name)))
    refused(lambda: Network.load(path), "'weights'", "beside the architecture")


def test_a_weights_file_in_a_folder_below_is_fine(tmp_path):
    net = Network.from_dict(TINY)
    net.ensure_weights()
    (tmp_path / "w").mkdir()
    np.savez(tmp_path / "w" / "net.npz", **net.state_dict())
    path = tmp_path / "net.json"
    path.write_text(json.dumps(tiny(weights="w/net.npz")))
    assert set(Network.load(path).weights) == set(net.param_shapes())


def test_a_batch_of_no_images_is_refused():
    net = Network.from_dict(TINY)
    refused(lambda: net.forward(np.zeros((0, 3, 8, 8), np.float32)), "batch of 0", "input")


# ============================================================================ the command line
HOSTILE = {
    "digits": '{"format": "convscope", "version": 1, "seed": ' + "7" * 5000 + "}",
    "deep": nested(400),
    "surrogate": json.dumps(tiny(name="\ud800")),
    "nan": json.dumps(tiny(input={"channels": 3, "height": 8, "width": 8,
                                  "mean": [0, 0, 0]})).replace("[0, 0, 0]", "[NaN, 0, 0]"),
    "absolute": json.dumps(tiny(weights="/etc/passwd")),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_summary_of_a_hostile_file_is_one_line_and_exit_2(tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.json"
    path.write_text(HOSTILE[kind])
    assert cli.main(["summary", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"convscope: {path}"), err


# ============================================================================ fuzzing the readers
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=6))


def json_like():
    return st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)


KEYS = sorted({f.key for cls in REGISTRY.values() for f in cls.FIELDS} | {"name"})


def layer_like():
    """Mostly-sane layers with random values: the checks past the first ones get reached."""
    values = (st.integers(-3, 40) | st.sampled_from(["same", "max", "avg"])
              | st.lists(st.integers(-1, 9), max_size=3) | SCALARS)
    return st.builds(lambda kind, rest: {"type": kind, **rest}, st.sampled_from(sorted(REGISTRY)),
                     st.dictionaries(st.sampled_from(KEYS), values, max_size=4))


def network_like():
    layers = st.recursive(layer_like(), lambda inner: st.builds(
        lambda kind, key, seqs: {"type": kind, key: seqs if key != "branches" else [seqs]},
        st.sampled_from(["residual", "concat"]), st.sampled_from(["body", "shortcut",
                                                                  "branches"]),
        st.lists(inner, max_size=3)), max_leaves=6)
    top = st.builds(
        lambda size, layers, extra: {"format": "convscope", "version": 1,
                                     "input": dict(zip(("channels", "height", "width"), size)),
                                     "layers": layers, **extra},
        st.tuples(st.integers(-1, 4), st.integers(-1, 12), st.integers(-1, 12)),
        st.lists(layers, max_size=4),
        st.dictionaries(st.sampled_from(["name", "description", "seed", "weights", "input",
                                         "extra"]), json_like(), max_size=2))
    return top | json_like()


FUZZ = settings(max_examples=300, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FEWER = settings(FUZZ, max_examples=200)  # each example writes a file


@seed(10)
@FUZZ
@given(data=network_like())
def test_from_dict_raises_only_convscope_errors(data):
    try:
        net = Network.from_dict(data)
    except ConvScopeError as err:
        assert "\n" not in str(err)
        return
    net.analyze(fixes=False)  # what reads must analyse
    Network.from_dict(json.loads(json.dumps(net.to_dict())))  # and what it writes reads


@seed(11)
@FEWER
@given(blob=st.binary(max_size=300) | network_like().map(lambda d: json.dumps(d).encode()))
def test_load_raises_only_convscope_errors(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "net.json"
    path.write_bytes(blob)
    try:
        Network.load(path)
    except ConvScopeError as err:
        assert "\n" not in str(err)


def npz_like():
    """Random bytes, or a real archive with random members and arrays (some with the right
    names), possibly cut short."""
    array = st.builds(lambda shape, kind: np.zeros(shape, kind),
                      st.lists(st.integers(0, 5), max_size=4).map(tuple),
                      st.sampled_from(["f4", "f8", "i2", "u1", "b1", "U2", "c8"]))
    arrays = st.dictionaries(st.sampled_from(["conv1.weight", "conv1.bias", "fc1.weight",
                                              "fc1.bias"]) | st.text(max_size=6), array,
                             max_size=5)

    def archive(members, cut):
        buffer = io.BytesIO()
        np.savez(buffer, **{k.replace("/", "_") or "x": v for k, v in members.items()})
        raw = buffer.getvalue()
        return raw[:cut] if cut else raw

    return st.binary(max_size=200) | st.builds(archive, arrays, st.integers(0, 400))


@seed(12)
@FEWER
@given(blob=npz_like())
def test_load_weights_raises_only_convscope_errors(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "w.npz"
    path.write_bytes(blob)
    net = Network.from_dict(TINY)
    try:
        net.load_weights(path)
    except ConvScopeError as err:
        assert "\n" not in str(err)
