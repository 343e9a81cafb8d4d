"""A network and its weights as an ONNX model that ONNX Runtime runs.

Every layer's output is a named value (the layer's name), so a model can be compared with
ConvScope layer by layer (``all_outputs=True`` makes them all graph outputs). The input is
``input`` of shape (N, C, H, W) with N dynamic; the weights are initializers named like the
``.npz`` keys (``conv1.weight``).

Each layer type writes its own nodes (``Layer.onnx_nodes``, given the builder below, so
``onnx`` is imported here only). Where ONNX and ConvScope (= PyTorch) differ, the layer
spells the computation out (core/layers/pool.py, lrn.py):
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

import numpy as np

from ..errors import ConvScopeError
from ..fileio import atomic_write_bytes
from ..layers.pool import pool_plan  # noqa: F401 (the importer reads pools back with it)
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
        """Each layer type writes its own nodes (``Layer.onnx_nodes``) through this builder."""
        if layer.onnx_nodes is None:
            raise ConvScopeError(f"layer type '{layer.TYPE}' has no ONNX export: "
                                 f"{layer.NO_ONNX}", f"'{layer.name}'")
        slot = len(self.layer_values)  # a block comes before its layers, in reading order
        self.layer_values.append(None)
        out = layer.onnx_nodes(self.info[layer.name], self, x, value_name(layer))
        self.layer_values[slot] = (out, self.info[layer.name].out)
        return out
