"""Layer paths, weight keys and layer names (core/paths.py), and the Block interface the
network, the analysis and the GUI walk blocks through."""

from __future__ import annotations

import pytest
from convscope.core import REGISTRY, ConvScopeError, Network
from convscope.core.layers import Block, Shaped, op_dict
from convscope.core.network import iter_with_places, locate, sequence_at
from convscope.core.paths import (
    LayerPath,
    PathError,
    check_name,
    container_path,
    name_problem,
    split_container,
    split_path,
    split_weight_key,
    weight_key,
)
from convscope.gui.commands import adjust_target

FORMS = {  # the path forms the file, the reports and the GUI write, as steps
    "layers[0]": (("layers", 0),),
    "layers[3].body[1]": (("layers", 3), ("body", 1)),
    "layers[12].shortcut[0]": (("layers", 12), ("shortcut", 0)),
    "layers[2].branches[1][0]": (("layers", 2), ("branches[1]", 0)),
    "layers[2].branches[10][3].body[4]": (("layers", 2), ("branches[10]", 3), ("body", 4)),
}


@pytest.mark.parametrize("text, steps", FORMS.items())
def test_parse_and_format_every_form(text, steps):
    path = LayerPath.parse(text)
    assert path.steps == steps
    assert str(path) == text
    assert LayerPath.at(path.container, path.index) == path


def test_parts_of_a_path():
    path = LayerPath.parse("layers[2].branches[1][0]")
    assert (path.container, path.index, path.slot) == ("layers[2].branches[1]", 0, "branches[1]")
    assert str(path.block) == "layers[2]" and path.block.block is None
    assert LayerPath.parse("layers[4]").container == "layers"
    assert str(path.child("body", 5)) == "layers[2].branches[1][0].body[5]"
    assert str(path.sibling(7)) == "layers[2].branches[1][7]"
    assert split_path("layers[3].body[1]") == ("layers[3].body", 1)
    assert split_container("layers") == (None, "layers")
    assert split_container("layers[2].branches[1]") == (LayerPath.parse("layers[2]"),
                                                        "branches[1]")
    assert container_path(None, "layers") == "layers"
    assert container_path(LayerPath.parse("layers[3]"), "shortcut") == "layers[3].shortcut"
    assert path.within(LayerPath.parse("layers[2]")) and path.within(path)
    assert not LayerPath.parse("layers[20].body[0]").within(LayerPath.parse("layers[2]"))


@pytest.mark.parametrize("text", ["", "layers", "layers[]", "layers[x]", "layer[1]",
                                  "body[1]", "layers[1].", "layers[1]..body[0]",
                                  "layers[1].body", "layers[-1]", " layers[1]", None])
def test_bad_text_is_one_clear_error(text):
    with pytest.raises(PathError) as info:
        LayerPath.parse(text)
    # a KeyError (a lookup by a bad path finds nothing) and a ConvScopeError (one line)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConvScopeError)
    message = str(info.value)
    assert "\n" not in message and "path" in message and not message.startswith("'\"")
    if text:
        assert f"'{text}'" in message


@pytest.mark.parametrize("text", ["layers[1]", "layers[1].body[", "1.body"])
def test_bad_container_text(text):
    with pytest.raises(PathError):
        split_container(text)


@pytest.mark.parametrize("src, target, landed", [
    # in its own list, a target after it moves up by one; before it, nothing moves
    ("layers[1]", ("layers", 4), ("layers", 3)),
    ("layers[3]", ("layers", 1), ("layers", 1)),
    # into a later sibling: the block itself moves up
    ("layers[1]", ("layers[3].body", 0), ("layers[2].body", 0)),
    ("layers[1]", ("layers[3].branches[2][0].shortcut", 1),
     ("layers[2].branches[2][0].shortcut", 1)),
    # into an earlier sibling, or out of a block: nothing moves
    ("layers[3]", ("layers[1].body", 0), ("layers[1].body", 0)),
    ("layers[2].body[0]", ("layers", 5), ("layers", 5)),
    # inside a branch: only that branch's later layers move
    ("layers[2].branches[1][0]", ("layers[2].branches[1][3].body", 0),
     ("layers[2].branches[1][2].body", 0)),
    ("layers[2].branches[1][0]", ("layers[2].branches[2]", 1), ("layers[2].branches[2]", 1)),
])
def test_adjust_target_after_the_layer_leaves(src, target, landed):
    assert adjust_target(src, *target) == landed


# ====================================================================== weight keys and names
def test_weight_keys():
    assert weight_key("conv1", "weight") == "conv1.weight"
    assert split_weight_key("bn_2.running_mean") == ("bn_2", "running_mean")
    with pytest.raises(ConvScopeError, match="not a weight key"):
        split_weight_key("conv1")


@pytest.mark.parametrize("name, words", [
    ("input", "the network's input"),
    ("", "letters, digits"),
    ("a b", "letters, digits"),
    ("x" * 65, "at most 64"),
    (7, "letters, digits"),
])
def test_names_a_layer_cannot_take(name, words):
    assert words in name_problem(name)
    with pytest.raises(ConvScopeError) as info:
        check_name(name, "layers[2]")
    assert info.value.place == "layers[2]"


@pytest.mark.parametrize("name", ["conv1", "inputs", "Input", "x" * 64, "a-b_c"])
def test_names_a_layer_can_take(name):
    assert name_problem(name) == "" and check_name(name) == name


# ====================================================================== the tree
def nested() -> Network:
    return Network.from_dict({
        "format": "convscope", "version": 1, "input": {"channels": 3, "height": 8, "width": 8},
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "concat", "branches": [
                [{"type": "relu"}],
                [],
                [{"type": "residual", "body": [{"type": "conv", "name": "deep", "filters": 4,
                                                "kernel": 1}]}]]},
        ]})


def test_locate_and_sequence_at_walk_every_form():
    net = nested()
    assert net.find("layers[1].branches[2][0].body[0]").name == "deep"
    assert net.find("layers[1].branches[0][0]").TYPE == "relu"
    assert sequence_at(net, "layers[1].branches[1]") == []
    assert sequence_at(net, "layers[1].branches[2][0].shortcut") == []
    seq, index = locate(net, "layers[1].branches[2][0].body[0]")
    assert index == 0 and seq[0].name == "deep"
    places = {layer.name: place for layer, place in iter_with_places(net.layers, "layers")}
    assert places == {"conv1": "layers[0]", "concat1": "layers[1]",
                      "relu1": "layers[1].branches[0][0]",
                      "residual1": "layers[1].branches[2][0]",
                      "deep": "layers[1].branches[2][0].body[0]"}
    assert [i.path for i in net.analyze().layers] == list(places.values())


@pytest.mark.parametrize("path", ["layers[2]", "layers[0].body[0]", "layers[1].branches[3][0]",
                                  "layers[1].body[0]", "layers[1].branches[0][1]",
                                  "layers[1].branches[2][0].side[0]", "nonsense"])
def test_paths_that_name_nothing_are_key_errors(path):
    with pytest.raises(KeyError):
        nested().find(path)


def test_blocks_name_their_slots_for_people():
    net = nested()
    concat, residual = net.find("layers[1]"), net.find("layers[1].branches[2][0]")
    assert [concat.slot_label(slot) for slot, _ in concat.slots()] == \
        ["branch 1", "branch 2", "branch 3"]
    assert [residual.slot_label(slot) for slot, _ in residual.slots()] == \
        ["body", "shortcut (identity)"]
    assert (concat.join_label(), residual.join_label()) == ("concat", "+")
    assert concat.GROWS and not residual.GROWS


def test_a_concat_grows_and_shrinks_through_its_slots():
    concat = nested().find("layers[1]")
    assert concat.add_slot(1) == "branches[1]"
    assert [len(b) for _, b in concat.slots()] == [1, 0, 0, 1]
    assert [layer.TYPE for layer in concat.remove_slot(0)] == ["relu"]
    assert concat.slot_index("branches[2]") == 2
    while concat.can_remove_slot():
        concat.remove_slot(0)
    assert len(concat.slots()) == 1


@pytest.mark.parametrize("body, shortcut, mends", [
    # stride 2 and a depth: the notes' projection, 1×1 with the body's depth
    ((64, 28, 28), (32, 56, 56), [("shortcut", {"type": "conv", "filters": 64, "kernel": 1,
                                               "stride": 2, "bias": False})]),
    ((8, 4, 4), (3, 4, 4), [("shortcut", {"type": "conv", "filters": 8, "kernel": 1,
                                         "stride": 1, "bias": False})]),
    ((8, 4, 4), (3, 12, 8), []),  # not one stride on both axes
    ((8, 5, 5), (8, 7, 7), []),  # not a whole stride
    ((8, 4, 4), (8, 4, 4), []),  # nothing to mend
])
def test_residual_mends(body, shortcut, mends):
    found = REGISTRY["residual"]().mends([body, shortcut])
    assert [(slot, item) for slot, item, _ in found] == mends


# ====================================================================== a new kind of block
class _Twice(Block):
    """A made-up block: its one slot ``inner`` run, then stacked with itself along channels.
    Nothing outside this class knows it, as a new block type should need."""

    TYPE, TITLE = "twice_test", "Twice"
    BLOCK_KEYS = ("inner",)

    def __init__(self, name=None):
        super().__init__(name)
        self.values["inner"] = []

    def slots(self):
        return [("inner", self.values["inner"])]

    def read_slots(self, data, read):
        self.values["inner"] = read(data.get("inner", []), "inner")

    def write_slots(self, out, write):
        out["inner"] = write(self.values["inner"])

    def join_label(self):
        return "×2"

    def combine(self, shapes):
        c, h, w = shapes[0]
        return Shaped((2 * c, h, w))

    def op_counts(self, shape, out):
        """Stacks copies: nothing computed."""
        return op_dict()


def test_a_new_block_needs_nothing_outside_its_class(monkeypatch):
    monkeypatch.setitem(REGISTRY, _Twice.TYPE, _Twice)
    data = {"format": "convscope", "version": 1, "name": "t",
            "input": {"channels": 3, "height": 8, "width": 8}, "seed": 0,
            "layers": [{"type": "twice_test", "inner": [
                {"type": "conv", "filters": 4, "kernel": 5}]}]}
    net = Network.from_dict(data)
    assert net.to_dict() == {**data, "layers": [{"type": "twice_test", "name": "twice_test1",
                                                 "inner": [{"type": "conv", "name": "conv1",
                                                            "filters": 4, "kernel": 5}]}]}
    report = net.analyze()
    assert [(i.path, i.out) for i in report.layers] == [
        ("layers[0]", (8, 4, 4)), ("layers[0].inner[0]", (4, 4, 4))]
    assert net.find("layers[0].inner[0]").name == "conv1"
    with pytest.raises(ConvScopeError) as info:
        Network.from_dict({**data, "layers": [{"type": "twice_test", "inner": [
            {"type": "conv", "filters": 0, "kernel": 5}]}]})
    assert info.value.place == "layers[0].inner[0]"
