"""The ONNX forms today's CNNs are written in, each as a small graph built with onnx.helper:
the importer maps it to the layer types of the format's version 1 (relu6, hardsigmoid,
hardswish, silu, gelu, prelu, layernorm, channel_shuffle, channel_slice, residual with
join "mul") and to folds of what older exporters write (Caffe's batch norm as
BatchNormalization → Mul → Add, a one-window average pool, DenseNet's growing Concats,
Inception-v3's branches that fork again), and ConvScope's forward pass gives ONNX Runtime's
numbers on the last layer within 1e-4 of the output's scale.
"""

from __future__ import annotations

import numpy as np
import pytest
from convscope.core import ConvScopeError
from convscope.core.network import iter_layers

onnx = pytest.importorskip("onnx", reason="needs the optional extra convscope[onnx]")
pytest.importorskip("onnxruntime", reason="needs the optional extra convscope[onnx]")
TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

RNG = np.random.default_rng(7)


def model_of(nodes, consts=None, shape=(2, 4, 6, 6), opset=17):
    """A model of ``nodes`` from value "x" of ``shape`` to the last node's first output;
    ``consts`` name → array are initializers."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_empty_tensor_value_info(nodes[-1].output[0])],
        initializer=[numpy_helper.from_array(np.asarray(a), k)
                     for k, a in (consts or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def f32(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


def imported(model, shape=(2, 4, 6, 6)):
    """The network ConvScope reads from ``model``, after checking that its last layer gives
    ONNX Runtime's output on random data."""
    from convscope.core.interop import run_onnx
    from convscope.core.interop.onnx_import import from_model

    net = from_model(model)
    x = RNG.standard_normal(shape).astype(np.float32) * 3  # past every kink (±3, 0, 6)
    (want,) = run_onnx(model, x).values()
    got = net.forward(x.reshape(len(x), *net.input.shape))[net.layers[-1].name]
    assert got.reshape(want.shape).shape == want.shape
    assert np.abs(got.reshape(want.shape) - want).max() <= 1e-4 * np.abs(want).max()
    return net


def kinds(net):
    return [layer.TYPE for layer in iter_layers(net.layers)]


def node(op, inputs, out, **attrs):
    return helper.make_node(op, inputs, [out], name=out, **attrs)


# ============================================================================ activations
def test_clip_0_6_is_relu6_from_attributes_and_from_inputs():
    old = model_of([node("Clip", ["x"], "y", min=0.0, max=6.0)], opset=9)
    assert kinds(imported(old)) == ["relu6"]
    new = model_of([node("Clip", ["x", "lo", "hi"], "y")],
                   {"lo": np.float32(0), "hi": np.float32(6)})
    assert kinds(imported(new)) == ["relu6"]
    relu = model_of([node("Clip", ["x", "lo"], "y")], {"lo": np.float32(0)})
    assert kinds(imported(relu)) == ["relu"]


def test_hard_sigmoid_and_hard_swish():
    hs = model_of([node("HardSigmoid", ["x"], "y", alpha=1 / 6, beta=0.5)])
    assert kinds(imported(hs)) == ["hardsigmoid"]
    assert kinds(imported(model_of([node("HardSwish", ["x"], "y")]))) == ["hardswish"]
    keras = model_of([node("HardSigmoid", ["x"], "y")])  # ONNX's default alpha 0.2
    with pytest.raises(ConvScopeError, match="alpha 0.2 and beta 0.5"):
        imported(keras)


def test_x_times_its_sigmoid_is_silu_and_times_its_hardsigmoid_is_hardswish():
    silu = model_of([node("Conv", ["x", "w"], "c"), node("Sigmoid", ["c"], "s"),
                     node("Mul", ["s", "c"], "y")], {"w": f32(4, 4, 1, 1)})
    assert kinds(imported(silu)) == ["conv", "silu"]
    swish = model_of([node("HardSigmoid", ["x"], "s", alpha=1 / 6, beta=0.5),
                      node("Mul", ["x", "s"], "y")])
    assert kinds(imported(swish)) == ["hardswish"]


@pytest.mark.parametrize("half", ["after", "inside"])
def test_the_erf_pattern_is_gelu(half):
    """PyTorch writes x·(1 + erf(x/√2))·0.5; ConvScope's export x·((1 + erf(x/√2))·0.5)."""
    consts = {"r2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    start = [node("Div", ["x", "r2"], "d"), node("Erf", ["d"], "e"),
             node("Add", ["e", "one"], "a")]
    if half == "after":
        nodes = [*start, node("Mul", ["x", "a"], "m"), node("Mul", ["m", "half"], "y")]
    else:
        nodes = [*start, node("Mul", ["a", "half"], "h"), node("Mul", ["x", "h"], "y")]
    assert kinds(imported(model_of(nodes, consts))) == ["gelu"]


def test_gelu_of_opset_20():
    assert kinds(imported(model_of([node("Gelu", ["x"], "y")], opset=20))) == ["gelu"]


def test_prelu_per_channel_slope_is_its_weight():
    slope = f32(4, 1, 1, low=0.05, high=0.5)
    net = imported(model_of([node("PRelu", ["x", "a"], "y")], {"a": slope}))
    assert kinds(net) == ["prelu"]
    np.testing.assert_array_equal(net.weights[f"{net.layers[0].name}.weight"],
                                  slope.reshape(-1))


# ============================================================================ channels last
def test_layernorm_between_transposes_and_linears_as_1x1_convs():
    """ConvNeXt's block: permute → LayerNorm → Linear → GELU → Linear → permute, then a
    layer scale (a per-channel Mul: a depthwise 1×1 conv)."""
    consts = {"g": f32(4, low=0.5, high=1.5), "b": f32(4), "w1": f32(4, 8), "b1": f32(8),
              "w2": f32(8, 4), "b2": f32(4), "ls": f32(4, 1, 1)}
    nodes = [node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]),
             node("LayerNormalization", ["t", "g", "b"], "n", axis=-1, epsilon=1e-6),
             node("MatMul", ["n", "w1"], "m1"), node("Add", ["m1", "b1"], "a1"),
             node("Relu", ["a1"], "r"),
             node("MatMul", ["r", "w2"], "m2"), node("Add", ["b2", "m2"], "a2"),
             node("Transpose", ["a2"], "back", perm=[0, 3, 1, 2]),
             node("Mul", ["ls", "back"], "y")]
    net = imported(model_of(nodes, consts))
    assert kinds(net) == ["layernorm", "conv", "relu", "conv", "conv"]
    norm, fc1, _, _, scale = net.layers
    assert norm.values["eps"] == 1e-6
    assert (fc1.values["kernel"], fc1.values["bias"]) == (1, True)
    assert (scale.values["groups"], scale.values["bias"]) == (4, False)


def test_a_layer_norm_over_more_than_the_channels_is_refused():
    consts = {"g": f32(6), "b": f32(6)}
    model = model_of([node("LayerNormalization", ["x", "g", "b"], "n", axis=-1)], consts)
    with pytest.raises(ConvScopeError, match=r"'n' \(LayerNormalization\) normalises from axis"):
        imported(model)


# ============================================================================ channel moves
def test_reshape_transpose_reshape_is_channel_shuffle():
    nodes = [node("Reshape", ["x", "grid"], "r"),
             node("Transpose", ["r"], "t", perm=[0, 2, 1, 3, 4]),
             node("Reshape", ["t", "flat"], "y")]
    net = imported(model_of(nodes, {"grid": i64(0, 2, 2, 6, 6), "flat": i64(0, 4, 6, 6)}))
    assert kinds(net) == ["channel_shuffle"]
    assert net.layers[0].values["groups"] == 2


def test_split_is_channel_slices_that_start_the_branches_of_a_concat():
    """ShuffleNetV2's unit: one half kept, the other through convs, then concatenated."""
    nodes = [node("Split", ["x", "sizes"], "left", axis=1),
             node("Conv", ["right", "w"], "c"), node("Relu", ["c"], "r"),
             node("Concat", ["left", "r"], "y", axis=1)]
    nodes[0].output.append("right")
    net = imported(model_of(nodes, {"sizes": i64(2, 2), "w": f32(2, 2, 1, 1)}))
    assert kinds(net) == ["concat", "channel_slice", "channel_slice", "conv", "relu"]
    slices = [layer.values for layer in iter_layers(net.layers)
              if layer.TYPE == "channel_slice"]
    assert [(s["start"], s["stop"]) for s in slices] == [(0, 2), (2, 4)]


def test_slice_along_channels_is_channel_slice():
    nodes = [node("Slice", ["x", "s", "e", "a"], "y")]
    net = imported(model_of(nodes, {"s": i64(1), "e": i64(2**62), "a": i64(1)}))
    assert kinds(net) == ["channel_slice"]
    assert (net.layers[0].values["start"], net.layers[0].values["stop"]) == (1, 4)


# ============================================================================ Mul joins
def test_squeeze_and_excitation_and_a_gate_are_residuals_that_multiply():
    se = [node("GlobalAveragePool", ["x"], "p"), node("Conv", ["p", "w1", "b1"], "c1"),
          node("Relu", ["c1"], "r"), node("Conv", ["r", "w2", "b2"], "c2"),
          node("Sigmoid", ["c2"], "s"), node("Mul", ["s", "x"], "y")]
    consts = {"w1": f32(2, 4, 1, 1), "b1": f32(2), "w2": f32(4, 2, 1, 1), "b2": f32(4)}
    net = imported(model_of(se, consts))
    assert kinds(net) == ["residual", "global_avg_pool", "conv", "relu", "conv", "sigmoid"]
    assert net.layers[0].values["join"] == "mul" and net.layers[0].values["shortcut"] == []
    gate = [node("Tanh", ["x"], "a"), node("Conv", ["x", "w", "b"], "c", pads=[1, 1, 1, 1]),
            node("Sigmoid", ["c"], "s"), node("Mul", ["a", "s"], "y")]
    net = imported(model_of(gate, {"w": f32(4, 4, 3, 3), "b": f32(4)}))
    assert kinds(net) == ["residual", "conv", "sigmoid", "tanh"]
    assert net.layers[0].values["join"] == "mul"


# ============================================================================ older exporters
def test_caffe_batch_norm_with_a_scale_and_shift_is_one_batchnorm():
    """Caffe2's BatchNormalization (γ = 1, β = 0) → Mul → Add with Unsqueezed constants."""
    consts = {"s": np.ones(4, np.float32), "b": np.zeros(4, np.float32), "m": f32(4),
              "v": f32(4, low=0.5, high=2), "gw": f32(4), "gb": f32(4)}
    nodes = [node("BatchNormalization", ["x", "s", "b", "m", "v"], "n"),
             node("Unsqueeze", ["gw"], "gw3", axes=[1, 2]), node("Mul", ["n", "gw3"], "sc"),
             node("Unsqueeze", ["gb"], "gb3", axes=[1, 2]), node("Add", ["sc", "gb3"], "y")]
    net = imported(model_of(nodes, consts, opset=9))
    assert kinds(net) == ["batchnorm"]
    name = net.layers[0].name
    np.testing.assert_allclose(net.weights[f"{name}.weight"], consts["gw"], rtol=1e-6)
    np.testing.assert_allclose(net.weights[f"{name}.bias"], consts["gb"], rtol=1e-6)


def test_a_shift_after_a_conv_without_bias_becomes_its_bias():
    nodes = [node("Conv", ["x", "w"], "c"), node("Sub", ["c", "b"], "y")]
    net = imported(model_of(nodes, {"w": f32(3, 4, 3, 3), "b": f32(1, 3, 1, 1)}))
    assert kinds(net) == ["conv"] and net.layers[0].values["bias"] is True


def test_a_one_window_average_pool_with_uneven_pads_is_global():
    """inception_v1 of the model zoo: a 7×7 average pool, pads (0, 0, 1, 1), on 6×6."""
    pool = node("AveragePool", ["x"], "y", kernel_shape=[7, 7], pads=[0, 0, 1, 1])
    assert kinds(imported(model_of([pool], opset=9))) == ["global_avg_pool"]
    counting = node("AveragePool", ["x"], "y", kernel_shape=[7, 7], pads=[0, 0, 1, 1],
                    count_include_pad=1)  # divides by 49: not a mean of the 36
    with pytest.raises(ConvScopeError, match="pads"):
        imported(model_of([counting]))


def test_densenet_concatenating_everything_so_far_nests():
    """Each layer reads the Concat of all features so far; the last Concat takes them all:
    a chain of concats, each of what came in and the new features."""
    consts = {f"w{k}": f32(2, 4 + 2 * k, 3, 3) for k in range(3)}
    nodes, feats = [], ["x"]
    for k in range(3):
        cat = f"cat{k}"
        nodes.append(node("Concat", list(feats), cat, axis=1))
        nodes += [node("Relu", [cat], f"r{k}"),
                  node("Conv", [f"r{k}", f"w{k}"], f"new{k}", pads=[1, 1, 1, 1])]
        feats.append(f"new{k}")
    nodes.append(node("Concat", feats, "y", axis=1))
    net = imported(model_of(nodes, consts))
    # each step keeps what came in and adds its new features: concat(identity, relu → conv)
    # (the first reads the Concat of the input alone: a concat of one branch)
    assert [layer.TYPE for layer in net.layers] == ["concat"] * 3
    branches = [[kinds_of(b) for b in layer.values["branches"]] for layer in net.layers]
    assert branches == [[[], ["concat", "relu", "conv"]], [[], ["relu", "conv"]],
                        [[], ["relu", "conv"]]]
    assert [net.analyze().by_name(layer.name).out for layer in net.layers] == [
        (6, 6, 6), (8, 6, 6), (10, 6, 6)]


def test_inception_v3_branches_that_fork_again_nest():
    """One Concat of four inputs, two of which come from one conv: a concat inside."""
    consts = {"w1": f32(2, 4, 1, 1), "w2": f32(3, 4, 1, 1), "wa": f32(2, 3, 1, 3),
              "wb": f32(2, 3, 3, 1)}
    nodes = [node("Conv", ["x", "w1"], "b1"), node("Conv", ["x", "w2"], "shared"),
             node("Conv", ["shared", "wa"], "a", pads=[0, 1, 0, 1]),
             node("Conv", ["shared", "wb"], "b", pads=[1, 0, 1, 0]),
             node("MaxPool", ["x"], "p", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             node("Concat", ["b1", "a", "b", "p"], "y", axis=1)]
    net = imported(model_of(nodes, consts))
    outer = net.layers[0]
    assert [kinds_of(b) for b in outer.values["branches"]] == [
        ["conv"], ["conv", "concat"], ["pool"]]


def kinds_of(layers):
    return [layer.TYPE for layer in layers]


def test_a_vector_input_is_read_as_d_by_1_by_1():
    nodes = [node("Gemm", ["x", "w", "b"], "h", transB=1), node("Relu", ["h"], "y")]
    net = imported(model_of(nodes, {"w": f32(5, 12), "b": f32(5)}, shape=(3, 12)),
                   shape=(3, 12))
    assert net.input.shape == (12, 1, 1)
    assert kinds(net) == ["fc", "relu"]


def test_sizes_read_from_the_data_while_running_are_worked_out():
    """PyTorch's x.chunk(2, 1) with a batch that is not fixed: the slice's end is
    x.size(1) // 2, computed from Shape(x) in the graph."""
    nodes = [node("Relu", ["x"], "r"), node("Shape", ["r"], "s"),
             node("Gather", ["s", "one"], "c", axis=0), node("Div", ["c", "two"], "h"),
             node("Unsqueeze", ["h", "zero"], "end"),
             node("Slice", ["r", "start", "end", "axis"], "y")]
    consts = {"one": np.array(1, np.int64), "two": np.array(2, np.int64), "zero": i64(0),
              "start": i64(0), "axis": i64(1)}
    net = imported(model_of(nodes, consts, shape=("N", 4, 6, 6)))
    assert kinds(net) == ["relu", "channel_slice"]
    assert (net.layers[1].values["start"], net.layers[1].values["stop"]) == (0, 2)
