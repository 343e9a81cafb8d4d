"""A network and its weights as an ONNX model that ONNX Runtime runs.

Every layer's output is a named value (the layer's name), so a model can be compared with
ConvScope layer by layer (``all_outputs=True`` makes them all graph outputs). The input is
``input`` of shape (N, C, H, W) with N dynamic; the weights are initializers named like the
``.npz`` keys (``conv1.weight``).

Where ONNX and ConvScope (= PyTorch) differ, the export spells the computation out:
- pools in ceil mode: ONNX's size formula keeps a last window that starts in the right
  padding, PyTorch drops it; such pools (and L2 pools whose last window hangs over the input:
  ONNX Runtime's LpPool gets those wrong) get explicit extra end padding instead of
  ``ceil_mode``, and an average pool that counts padding gets a constant divisor correction;
- LRN with an even size: ONNX centres the window the other way (and ONNX Runtime refuses
  even sizes), so it is written out as PyTorch computes it (square, average over channels,
  scale, power, divide).
"""

from __future__ import annotations

import json
from math import ceil

import numpy as np

from ..errors import ConvScopeError
from ..fileio import atomic_write_bytes
from . import require_onnx

DEFAULT_OPSET = 17
INPUT = "input"


def export(net, out_path, all_outputs: bool = False, opset: int = DEFAULT_OPSET) -> None:
    """Write ``net`` with its weights to ``out_path`` (.onnx), atomically."""
    model = to_model(net, all_outputs=all_outputs, opset=opset)
    try:
        data = model.SerializeToString()
    except ValueError:  # protobuf refuses messages over 2 GB
        raise ConvScopeError("the network's weights are over ONNX's 2 GB limit for one file",
                             source=str(out_path)) from None
    atomic_write_bytes(out_path, data)


def to_model(net, all_outputs: bool = False, opset: int = DEFAULT_OPSET):
    """The network as an ``onnx.ModelProto`` (weights included, initialised if missing)."""
    onnx = require_onnx()
    from onnx import TensorProto, helper

    if not 17 <= opset <= onnx.defs.onnx_opset_version():
        raise ConvScopeError(f"opset {opset} is not supported: use 17 to "
                             f"{onnx.defs.onnx_opset_version()}")
    report = net.analyze(fixes=False)
    d = report.first_error
    if d:
        raise ConvScopeError(f"cannot export a network with an error: {d.message}",
                             f"{d.path} '{d.layer}'")
    net.ensure_weights()
    builder = _Builder(net, report)
    last = builder.sequence(net.layers, INPUT)
    if last == INPUT:  # no layers: the output must still be a node's output
        last = builder.node("Identity", [INPUT], "output")
    c, h, w = net.input.shape
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", c, h, w])]
    shapes = dict(builder.layer_values)
    shapes.setdefault(last, net.input.shape)
    names = [last]
    if all_outputs:
        names = [v for v in shapes if v != last] + [last]
    outputs = [helper.make_tensor_value_info(v, TensorProto.FLOAT, ["N", *shapes[v]])
               for v in names]
    # Built in place: make_graph and make_model would copy every weight twice more.
    model = onnx.ModelProto()
    model.ir_version = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    model.opset_import.add(domain="", version=opset)
    model.producer_name, model.producer_version = "ConvScope", _version()
    graph = model.graph
    graph.name = net.name or "convscope"
    graph.node.extend(builder.nodes)
    graph.input.extend(inputs)
    graph.output.extend(outputs)
    for key, array in builder.initializers:
        _add_initializer(graph, key, array)
    helper.set_model_props(model, _metadata(net))
    return model


def value_name(layer) -> str:
    """The ONNX value that holds a layer's output: its name (``input`` is the graph's)."""
    return layer.name if layer.name != INPUT else f"{INPUT}:layer"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("convscope")
    except Exception:  # not installed as a package: any version string will do
        return "0"


def _metadata(net) -> dict:
    """What the graph cannot say but a round trip should keep."""
    meta = {"convscope.name": net.name, "convscope.input": json.dumps(net.input.to_dict()),
            "convscope.seed": str(net.seed)}
    if net.description:
        meta["convscope.description"] = net.description
    return meta


def _add_initializer(graph, name, array) -> None:
    """One weight as a float32 initializer, written straight into the graph."""
    from onnx import TensorProto

    array = np.ascontiguousarray(array, dtype="<f4")
    tensor = graph.initializer.add()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend(array.shape)
    tensor.raw_data = array.tobytes()


class _Builder:
    """Collects nodes and initializers while walking the layer tree."""

    def __init__(self, net, report):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.net = net
        self.info = {i.name: i for i in report.layers}
        self.nodes: list = []
        self.initializers: list = []  # (name, array): the weights
        self.layer_values: list = []  # (value name, (C, H, W)) in reading order

    # ------------------------------------------------------------------ plumbing
    def node(self, op, inputs, output, name=None, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name or output,
                                                **attrs))
        return output

    def weight(self, layer, param) -> str:
        key = f"{layer.name}.{param}"
        self.initializers.append((key, self.net.weights[key]))
        return key

    def constant(self, name, array) -> str:
        """A Constant node (not an initializer: initializers are the weights only)."""
        tensor = self.numpy_helper.from_array(np.asarray(array), name)
        return self.node("Constant", [], name, value=tensor)

    # ------------------------------------------------------------------ walking
    def sequence(self, layers, x) -> str:
        for layer in layers:
            x = self.layer(layer, x)
        return x

    def layer(self, layer, x) -> str:
        emit = getattr(self, "_" + layer.TYPE, None)
        if emit is None:
            raise ConvScopeError(f"layer type '{layer.TYPE}' has no ONNX export",
                                 f"'{layer.name}'")
        slot = len(self.layer_values)  # a block comes before its layers, in reading order
        self.layer_values.append(None)
        out = emit(layer, x, value_name(layer))
        self.layer_values[slot] = (out, self.info[layer.name].out)
        return out

    # ------------------------------------------------------------------ layers
    def _conv(self, layer, x, out):
        inputs = [x, self.weight(layer, "weight")]
        if layer.values["bias"]:
            inputs.append(self.weight(layer, "bias"))
        (ph, pw) = layer.pair_padding()
        return self.node("Conv", inputs, out, kernel_shape=list(layer.pair("kernel")),
                         strides=list(layer.pair("stride")), pads=[ph, pw, ph, pw],
                         dilations=list(layer.pair("dilation")), group=layer.values["groups"])

    def _relu(self, layer, x, out):
        return self.node("Relu", [x], out)

    def _sigmoid(self, layer, x, out):
        return self.node("Sigmoid", [x], out)

    def _tanh(self, layer, x, out):
        return self.node("Tanh", [x], out)

    def _leaky_relu(self, layer, x, out):
        return self.node("LeakyRelu", [x], out, alpha=layer.values["negative_slope"])

    def _softmax(self, layer, x, out):
        return self.node("Softmax", [x], out, axis=1)

    def _global_avg_pool(self, layer, x, out):
        return self.node("GlobalAveragePool", [x], out)

    def _batchnorm(self, layer, x, out):
        params = [self.weight(layer, p) for p in ("weight", "bias", "running_mean",
                                                  "running_var")]
        # ONNX's momentum weighs the old running value: PyTorch's 0.1 is ONNX's 0.9
        return self.node("BatchNormalization", [x, *params], out, epsilon=layer.values["eps"],
                         momentum=1.0 - layer.values["momentum"])

    def _dropout(self, layer, x, out):
        ratio = self.constant(f"{out}/ratio", np.array(layer.values["rate"], np.float32))
        return self.node("Dropout", [x, ratio], out)

    def _flatten(self, layer, x, out):
        flat = self.node("Flatten", [x], f"{out}/flatten", axis=1)
        return self._to_vector(flat, out)

    def _fc(self, layer, x, out):
        flat = self.node("Flatten", [x], f"{out}/flatten", axis=1)
        inputs = [flat, self.weight(layer, "weight")]
        if layer.values["bias"]:
            inputs.append(self.weight(layer, "bias"))
        gemm = self.node("Gemm", inputs, f"{out}/gemm", name=out, transB=1)
        return self._to_vector(gemm, out)

    def _to_vector(self, x, out):
        """(N, D) → (N, D, 1, 1): ConvScope keeps a vector as a C×1×1 tensor."""
        shape = self.constant(f"{out}/shape", np.array([0, -1, 1, 1], np.int64))
        return self.node("Reshape", [x, shape], out, name=f"{out}/reshape")

    def _residual(self, layer, x, out):
        body = self.sequence(layer.values["body"], x)
        shortcut = self.sequence(layer.values["shortcut"], x)
        return self.node("Add", [body, shortcut], out)

    def _concat(self, layer, x, out):
        branches = [self.sequence(b, x) for b in layer.values["branches"]]
        return self.node("Concat", branches, out, axis=1)

    def _lrn(self, layer, x, out):
        v = layer.values
        if v["size"] % 2:
            return self.node("LRN", [x], out, size=v["size"], alpha=v["alpha"], beta=v["beta"],
                             bias=v["k"])
        return self._lrn_spelled_out(x, out, v["size"], v["alpha"], v["beta"], v["k"])

    def _lrn_spelled_out(self, x, out, size, alpha, beta, k):
        """PyTorch's local_response_norm, op by op: b = a / (k + α·mean_window(a²))^β with
        the window c − ⌊n/2⌋ … c + ⌊(n−1)/2⌋ (ONNX's LRN mirrors it for even n)."""
        sq = self.node("Mul", [x, x], f"{out}/square")
        axes = self.constant(f"{out}/axes", np.array([1], np.int64))
        sq5 = self.node("Unsqueeze", [sq, axes], f"{out}/unsqueeze")
        mean = self.node("AveragePool", [sq5], f"{out}/window_mean", kernel_shape=[size, 1, 1],
                         strides=[1, 1, 1], pads=[size // 2, 0, 0, (size - 1) // 2, 0, 0],
                         count_include_pad=1)
        mean = self.node("Squeeze", [mean, axes], f"{out}/squeeze")
        scaled = self.node("Mul", [mean, self.constant(f"{out}/alpha", np.float32(alpha))],
                           f"{out}/times_alpha")
        shifted = self.node("Add", [scaled, self.constant(f"{out}/k", np.float32(k))],
                            f"{out}/plus_k")
        denom = self.node("Pow", [shifted, self.constant(f"{out}/beta", np.float32(beta))],
                          f"{out}/power")
        return self.node("Div", [x, denom], out)

    def _pool(self, layer, x, out):
        info = self.info[layer.name]
        plan = pool_plan(layer, info.in_shape, info.out)
        mode = layer.values["mode"]
        kernel, stride = list(layer.pair("kernel")), list(layer.stride_pair())
        common = {"kernel_shape": kernel, "strides": stride}
        if plan.kind == "divisor":
            return self._avg_with_divisor(x, out, plan, kernel, stride)
        pads = plan.pads
        if mode == "l2":
            return self.node("LpPool", [x], out, p=2, pads=pads, **common)
        extra = {"ceil_mode": int(plan.kind == "ceil")}
        if mode == "avg":
            extra["count_include_pad"] = int(layer.values["count_include_pad"])
        return self.node("MaxPool" if mode == "max" else "AveragePool", [x], out, pads=pads,
                         **common, **extra)

    def _avg_with_divisor(self, x, out, plan, kernel, stride):
        """Average pool counting padding, in ceil mode where ONNX and PyTorch disagree:
        zero-pad explicitly (symmetric padding plus the ceil overhang), take the plain window
        mean, then rescale each output by (kernel area)/(PyTorch's divisor there)."""
        pads = self.constant(f"{out}/pads", np.array([0, 0, *plan.pads[:2], 0, 0,
                                                      *plan.pads[2:]], np.int64))
        padded = self.node("Pad", [x, pads], f"{out}/pad", mode="constant")
        mean = self.node("AveragePool", [padded], f"{out}/mean", kernel_shape=kernel,
                         strides=stride)
        scale = self.constant(f"{out}/divisor_scale", plan.scale)
        return self.node("Mul", [mean, scale], out)


class PoolPlan:
    """How one ConvScope pool is written in ONNX.

    kind: "floor" (plain pads, ceil_mode 0), "ceil" (plain pads, ceil_mode 1), "pads"
    (extra end padding that yields PyTorch's ceil size, ceil_mode 0) or "divisor" (explicit
    Pad + mean + scale). pads: ONNX order [top, left, bottom, right].
    """

    def __init__(self, kind, pads, scale=None):
        self.kind, self.pads, self.scale = kind, pads, scale


def pool_plan(layer, in_shape, out_shape) -> PoolPlan:
    (kh, kw), (sh, sw) = layer.pair("kernel"), layer.stride_pair()
    (ph, pw) = layer.pair("padding")
    axes = list(zip(in_shape[1:], (kh, kw), (sh, sw), (ph, pw), out_shape[1:]))
    floor_sizes = [(n + 2 * p - k) // s + 1 for n, k, s, p, _ in axes]
    onnx_ceil = [ceil((n + 2 * p - k) / s) + 1 for n, k, s, p, _ in axes]
    wanted = [o for *_, o in axes]
    symmetric = [ph, pw, ph, pw]
    mode = layer.values["mode"]
    if layer.values["ceil_mode"] and wanted == onnx_ceil and mode != "l2":
        return PoolPlan("ceil", symmetric)
    if wanted == floor_sizes:
        return PoolPlan("floor", symmetric)
    # PyTorch's ceil size differs from both of ONNX's: pad the end so floor gives it
    ends = [max(p, (o - 1) * s + k - n - p) for n, k, s, p, o in axes]
    pads = [ph, pw, *ends]
    if mode == "avg" and layer.values["count_include_pad"]:
        counts = [_window_counts(n, k, s, p, o) for n, k, s, p, o in axes]
        scale = (kh * kw) / np.outer(counts[0], counts[1])
        return PoolPlan("divisor", pads, scale.astype(np.float32)[None, None])
    return PoolPlan("pads", pads)


def _window_counts(n, k, s, p, o):
    """PyTorch's divisor per output position on one axis when padding counts: the window
    clipped to the padded input (the ceil overhang does not count)."""
    starts = np.arange(o) * s
    return np.minimum(starts + k, n + 2 * p) - starts
