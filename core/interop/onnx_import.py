"""An ONNX model to a ConvScope architecture and its weights.

The graph is read as the architecture format reads a network: a chain of layers from the one
input to the one output. Where the chain forks, the branches must meet again in one ``Add``
(a ``residual``: the longer path is the body, the shorter or empty one the shortcut) or one
``Concat`` (a ``concat``); the paths in between are read the same way, so blocks nest.
A few op pairs fold into one layer: Flatten/Reshape + Gemm (or MatMul + Add) is an ``fc``,
a ``Pad`` before a conv or pool becomes its padding, a Reshape back to (N, C, 1, 1) after an
``fc`` disappears. Whatever cannot be mapped is refused with the op and the node named, and
nothing is written.
"""

from __future__ import annotations

import json
import re
from math import ceil, prod
from pathlib import Path

import numpy as np

from .. import geometry as geo
from ..analysis import analyze
from ..errors import ConvScopeError
from ..layers import REGISTRY
from ..network import NAME_RE, InputSpec, Network, assign_names, iter_layers
from . import require_onnx
from .onnx_export import pool_plan

SHAPE_OPS = {"Shape", "Size"}  # their outputs are shapes, not data
JOINS = {"Add", "Concat"}
# ONNX float attributes are float32: keep the digits a person wrote (1e-5, not 9.9999997e-06)
_DIGITS = 7


def import_file(model_path, out_json) -> Path:
    """Read ``model_path`` (.onnx) and write ``out_json`` plus its weights ``.npz`` beside it.

    Nothing is written when the model cannot be read or mapped (ConvScopeError)."""
    net = import_model(model_path)
    out = Path(out_json)
    net.weights_file = out.stem + ".npz"
    npz = out.parent / net.weights_file
    existed = npz.exists()
    try:
        net.save(out, with_weights=True)
    except ConvScopeError:
        if not existed and npz.exists() and not out.exists():
            npz.unlink()  # the architecture could not be written: leave no stray weights
        raise
    return out


def import_model(model_path) -> Network:
    """The network (with its weights set) that an ONNX file describes."""
    onnx = require_onnx()
    path = Path(model_path)
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ConvScopeError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ConvScopeError("is a folder, not a file", source=str(path)) from None
    except Exception as err:  # protobuf's DecodeError and friends
        raise ConvScopeError(f"not a readable ONNX model ({type(err).__name__}: {err})",
                             source=str(path)) from None
    try:
        return from_model(model, default_name=path.stem, source=path.name)
    except ConvScopeError as err:
        raise err.located(source=str(path)) from None


def from_model(model, default_name: str = "imported", source: str = "an ONNX model") -> Network:
    """The network an ``onnx.ModelProto`` describes (named ``default_name`` unless the model
    was written by ConvScope and keeps its name)."""
    return _Reader(model, default_name, source).network()


# ============================================================================ the reader
class _Reader:
    def __init__(self, model, default_name, source):
        from onnx import numpy_helper

        self.numpy_helper = numpy_helper
        self.model = model
        self.graph = model.graph
        self.default_name, self.source = default_name, source
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          1)
        self.nodes = list(self.graph.node)
        self.consts = self._constants()
        self.input = self._input()
        self._index_data_nodes()
        self.used: set = set()  # node indices already mapped to a layer
        self.shape: dict = {}  # value → (C, H, W) as ConvScope sees it
        self.rank: dict = {}  # value → 4 (N, C, H, W) or 2 (N, D)
        self.params: dict = {}  # id(layer) → {param: array}
        self.taken: set = set()

    # ------------------------------------------------------------------ overall
    def network(self) -> Network:
        meta = {p.key: p.value for p in self.model.metadata_props}
        spec = self._input_spec(meta)
        self.shape[self.input] = spec.shape
        self.rank[self.input] = 4
        output = self._output()
        layers = self.sequence(self.input, output, self.live)
        unused = sorted(self.live - self.used)
        if unused:
            raise self.error(unused[0], "is not on the chain of layers from the input to the "
                             "output (its result is used across a block's boundary)")
        assign_names(layers, set())
        report = analyze(layers, spec.shape)  # the errors only, no fix search
        d = report.first_error
        if d:
            raise ConvScopeError(f"the imported network has an error: {d.message}",
                                 f"{d.path} '{d.layer}'")
        seed = meta.get("convscope.seed", "0")
        net = Network(name=meta.get("convscope.name") or self.default_name, input=spec,
                      layers=layers, description=self._description(meta),
                      seed=int(seed) if seed.isdigit() and int(seed) < 2**32 else 0)
        weights = {f"{layer.name}.{param}": array for layer in iter_layers(layers)
                   for param, array in self.params.get(id(layer), {}).items()}
        net.set_weights(weights, source="the model's initializers")
        return net

    def _description(self, meta) -> str:
        """ConvScope's own description back, or where a foreign model came from."""
        if any(key.startswith("convscope.") for key in meta):
            return meta.get("convscope.description", "")
        made_by = " ".join(x for x in (self.model.producer_name,
                                       self.model.producer_version) if x)
        return (f"Imported from {self.source}" + (f" (made by {made_by}," if made_by else " (")
                + f" opset {self.opset}).")

    def _input_spec(self, meta) -> InputSpec:
        c, h, w = self.input_shape
        spec = InputSpec(c, h, w)
        try:
            saved = json.loads(meta.get("convscope.input", "{}"))
        except json.JSONDecodeError:
            saved = {}
        if isinstance(saved, dict) and (saved.get("channels"), saved.get("height"),
                                        saved.get("width")) == (c, h, w):
            for key in ("mean", "std"):
                v = saved.get(key)
                if isinstance(v, list) and len(v) == c:
                    setattr(spec, key, [float(e) for e in v])
        return spec

    # ------------------------------------------------------------------ the graph
    def _constants(self) -> dict:
        consts = {t.name: self.numpy_helper.to_array(t) for t in self.graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                value = _constant_value(node, self.numpy_helper)
                if value is not None:
                    consts[node.output[0]] = value
            elif _foldable(node, consts):
                consts.update(self._fold(node, consts))
        return consts

    def _fold(self, node, consts) -> dict:
        """Work out a node whose inputs are all constants (PyTorch leaves some: the pads of
        F.pad, reshape targets) with ONNX's reference implementation."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        inputs = [x for x in dict.fromkeys(node.input) if x]
        outputs = [x for x in node.output if x]
        graph = helper.make_graph(
            [node], "fold", [], [helper.make_empty_tensor_value_info(x) for x in outputs],
            initializer=[self.numpy_helper.from_array(np.asarray(consts[x]), x)
                         for x in inputs])
        model = helper.make_model(graph, opset_imports=self.model.opset_import,
                                  ir_version=self.model.ir_version)
        try:
            values = ReferenceEvaluator(model).run(None, {})
        except Exception:  # not foldable after all: it stays a node, named if it matters
            return {}
        return {x: np.asarray(v) for x, v in zip(outputs, values)}

    def _input(self) -> str:
        real = [v for v in self.graph.input if v.name not in self.consts]
        if len(real) != 1:
            names = ", ".join(v.name for v in real) or "none"
            raise ConvScopeError(f"the model needs exactly one input, it has {len(real)} "
                                 f"({names})")
        value = real[0]
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type != 1:
            raise ConvScopeError(f"input '{value.name}' must be a float32 tensor")
        dims = tensor.shape.dim
        if len(dims) != 4:
            raise ConvScopeError(f"input '{value.name}' has {len(dims)} dimensions; ConvScope "
                                 "reads images (N, C, H, W)")
        sizes = []
        for axis, d in zip(("channels", "height", "width"), dims[1:]):
            if not d.HasField("dim_value") or d.dim_value < 1:
                raise ConvScopeError(f"input '{value.name}' has no fixed {axis} "
                                     f"('{d.dim_param or '?'}'); export it with a fixed size")
            sizes.append(int(d.dim_value))
        self.input_shape = tuple(sizes)
        return value.name

    def _index_data_nodes(self):
        """Which nodes compute on the data (not on weights or shapes), who makes and who
        takes every data value."""
        data = {self.input}
        self.producer: dict = {}
        self.consumers: dict = {}
        self.data_nodes: list = []
        for i, node in enumerate(self.nodes):
            if node.op_type in SHAPE_OPS or not any(v in data for v in node.input):
                continue
            self.data_nodes.append(i)
            for v in node.output:
                if v:
                    data.add(v)
                    self.producer[v] = i
            for v in dict.fromkeys(node.input):
                if v in data:
                    self.consumers.setdefault(v, []).append(i)
        self.data_values = data

    def _output(self) -> str:
        outs = [o.name for o in self.graph.output if o.name in self.data_values]
        if not outs:
            raise ConvScopeError("no output of the model depends on its input")
        ancestors = {o: self._ancestors(o) for o in outs}
        final = [o for o in outs if not any(
            o != other and self.producer.get(o) in ancestors[other] for other in outs)]
        if len(final) != 1:
            raise ConvScopeError(f"the model has {len(final)} separate outputs "
                                 f"({', '.join(final)}); a ConvScope network has one")
        self.live = ancestors[final[0]]
        return final[0]

    def _ancestors(self, value) -> set:
        seen, todo = set(), [value]
        while todo:
            i = self.producer.get(todo.pop())
            if i is None or i in seen:
                continue
            seen.add(i)
            todo.extend(v for v in self.nodes[i].input if v in self.data_values)
        return seen

    def data_inputs(self, i) -> list:
        return [v for v in self.nodes[i].input if v in self.data_values]

    def takers(self, value, allowed) -> list:
        return [i for i in self.consumers.get(value, []) if i in allowed]

    # ------------------------------------------------------------------ messages
    def describe(self, i) -> str:
        node = self.nodes[i]
        name = node.name or f"#{i} → {node.output[0]}"
        return f"node '{name}' ({node.op_type})"

    def error(self, i, message) -> ConvScopeError:
        return ConvScopeError(f"{self.describe(i)} {message}")

    # ------------------------------------------------------------------ attributes
    def attrs(self, i) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in self.nodes[i].attribute}

    def const(self, i, value, what):
        if value not in self.consts:
            raise self.error(i, f"computes its {what} '{value}' while running; ConvScope "
                             "needs it stored as a constant (an initializer)")
        return self.consts[value]

    # ------------------------------------------------------------------ the chain
    def sequence(self, v, end, allowed) -> list:
        """The layers that take value ``v`` to value ``end`` through nodes ``allowed``."""
        layers = []
        while v != end:
            takers = self.takers(v, allowed)
            if not takers:
                raise ConvScopeError(f"value '{v}' does not lead to the output")
            if len(takers) > 1 or self.nodes[takers[0]].op_type in JOINS:
                new, v = self.block(v, takers, allowed)
            else:
                new, v = self.map_node(takers[0], v, allowed)
            layers.extend(new)
        return layers

    def take(self, i):
        if i in self.used:
            raise self.error(i, "is shared by two branches; ConvScope's blocks need branches "
                             "that meet only at their ends")
        self.used.add(i)

    def map_node(self, i, v, allowed):
        """Map node ``i`` (which takes ``v``) and whatever folds into it → (layers, value)."""
        node = self.nodes[i]
        if node.domain not in ("", "ai.onnx"):
            raise self.error(i, f"is from the op set '{node.domain}', which ConvScope does "
                             "not map")
        handler = getattr(self, "_op_" + node.op_type, None)
        if handler is None:
            raise self.error(i, "has no ConvScope layer (ConvScope maps Conv, Gemm/MatMul, "
                             "Relu, LeakyRelu, Sigmoid, Tanh, Softmax, MaxPool, AveragePool, "
                             "LpPool, GlobalAveragePool, LRN, BatchNormalization, Dropout, "
                             "Flatten, Reshape, Pad, Identity, Add and Concat)")
        if len(self.data_inputs(i)) > 1:
            raise self.error(i, "takes more than one data input; ConvScope layers take one")
        if node.input[0] != v:
            raise self.error(i, "takes the data as a later input; ConvScope layers take it "
                             "first")
        self.take(i)
        return handler(i, v, allowed)

    def emit(self, layer, i, v, out, rank=4, params=None):
        """Finish one layer: its name, shape and weights; the value it ends at."""
        layer.name = self.name_for(out, i)
        shaped = layer.shaped(self.shape[v])
        if shaped.out is None:
            message = shaped.diagnostics[0].message if shaped.diagnostics else "no shape"
            raise self.error(i, f"gives a layer that cannot run on {self.shape[v]}: {message}")
        self.shape[out] = shaped.out
        self.rank[out] = rank
        if params:
            self.params[id(layer)] = {k: np.ascontiguousarray(a, np.float32)
                                      for k, a in params.items()}
        return [layer], out

    def passthrough(self, v, out):
        self.shape[out] = self.shape[v]
        self.rank[out] = self.rank[v]
        return [], out

    # ------------------------------------------------------------------ names
    def name_for(self, value, i) -> str | None:
        """The layer's name: the value's name if it is a good one (ConvScope's exports),
        else the module path in the node's name (PyTorch's: /layer1/layer1.0/conv1/Conv
        → layer1_0_conv1), else none (ConvScope numbers it)."""
        for candidate in (value, self.nodes[i].name, _module_path(self.nodes[i].name)):
            if candidate and NAME_RE.fullmatch(candidate) and re.search("[A-Za-z]", candidate):
                return self._unique(candidate)
        return None

    def _unique(self, name) -> str:
        base, k = name, 1
        while name in self.taken or name == "input":
            k += 1
            name = f"{base[:60]}_{k}"
        self.taken.add(name)
        return name

    def only_taker(self, value, allowed, ops):
        """The one node in ``allowed`` that takes ``value``, if it is one of ``ops``."""
        takers = self.takers(value, allowed)
        if len(takers) == 1 and self.nodes[takers[0]].op_type in ops:
            return takers[0]
        return None

    # ------------------------------------------------------------------ element-wise
    def _simple(self, i, v, kind, **values):
        return self.emit(REGISTRY[kind](**values), i, v, self.nodes[i].output[0],
                         self.rank[v])

    def _op_Relu(self, i, v, allowed):
        return self._simple(i, v, "relu")

    def _op_Sigmoid(self, i, v, allowed):
        return self._simple(i, v, "sigmoid")

    def _op_Tanh(self, i, v, allowed):
        return self._simple(i, v, "tanh")

    def _op_LeakyRelu(self, i, v, allowed):
        slope = _plain(self.attrs(i).get("alpha", 0.01))
        if slope < 0:
            raise self.error(i, f"has a negative slope {slope}; ConvScope's leaky_relu takes "
                             "0 or more")
        return self._simple(i, v, "leaky_relu", negative_slope=slope)

    def _op_Softmax(self, i, v, allowed):
        rank = self.rank[v]
        axis = self.attrs(i).get("axis", 1 if self.opset < 13 else -1)
        axis = axis + rank if axis < 0 else axis
        if axis != 1:
            raise self.error(i, f"is over axis {axis}; ConvScope's softmax is over the "
                             "channels (axis 1)")
        if self.opset < 13 and rank == 4 and self.shape[v][1:] != (1, 1):
            raise self.error(i, "(before opset 13) runs over C·H·W together; ConvScope's "
                             "softmax is over the channels at each position")
        return self._simple(i, v, "softmax")

    def _op_Identity(self, i, v, allowed):
        return self.passthrough(v, self.nodes[i].output[0])

    def _op_Dropout(self, i, v, allowed):
        node = self.nodes[i]
        rate = self.attrs(i).get("ratio", 0.5)
        if len(node.input) > 1 and node.input[1]:
            rate = float(self.const(i, node.input[1], "ratio"))
        training = len(node.input) > 2 and node.input[2]
        if training and bool(self.const(i, node.input[2], "training mode")):
            raise self.error(i, "is in training mode")
        rate = min(_plain(rate), 0.999)
        return self._simple(i, v, "dropout", rate=rate)

    # ------------------------------------------------------------------ conv
    def _op_Conv(self, i, v, allowed, pads=None):
        node, a = self.nodes[i], self.attrs(i)
        w = self.const(i, node.input[1], "weights")
        if w.ndim != 4:
            raise self.error(i, f"is a {w.ndim - 2}-D convolution; ConvScope's are 2-D")
        f, cg, kh, kw = w.shape
        kernel = tuple(a.get("kernel_shape", (kh, kw)))
        stride = tuple(a.get("strides", (1, 1)))
        dilation = tuple(a.get("dilations", (1, 1)))
        groups = a.get("group", 1)
        n_in = self.shape[v][1:]
        own = self._own_pads(i, a, kernel, stride, dilation, n_in)
        begin, end = _add_pads(own, pads)
        padding = self._fold_pads(i, n_in, begin, end, kernel, stride, dilation)
        params = {"weight": w}
        bias = len(node.input) > 2 and bool(node.input[2])
        if bias:
            params["bias"] = self.const(i, node.input[2], "bias")
        layer = REGISTRY["conv"](filters=int(f), kernel=_size(kernel), stride=_size(stride),
                                 padding=_size(padding), dilation=_size(dilation),
                                 groups=int(groups), bias=bias)
        if self.shape[v][0] != cg * groups:
            raise self.error(i, f"takes {cg * groups} channels but gets {self.shape[v][0]}")
        return self.emit(layer, i, v, node.output[0], params=params)

    def _own_pads(self, i, a, kernel, stride, dilation, n_in):
        """The node's pads as ((top, left), (bottom, right)), auto_pad worked out."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("NOTSET", ""):
            p = list(a.get("pads", (0, 0, 0, 0)))
            if len(p) != 4:
                raise self.error(i, "is not 2-D")
            return (p[0], p[1]), (p[2], p[3])
        if auto == "VALID":
            return (0, 0), (0, 0)
        begin, end = [], []
        for n, k, s, d in zip(n_in, kernel, stride, dilation):
            total = max((ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            small = total // 2
            begin.append(small if auto == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        return tuple(begin), tuple(end)

    def _fold_pads(self, i, n_in, begin, end, kernel, stride, dilation):
        """Symmetric padding that gives the same result, or ConvScopeError."""
        padding = []
        for n, b, e, k, s, d in zip(n_in, begin, end, kernel, stride, dilation):
            kk = d * (k - 1) + 1
            if b == e:
                padding.append(b)
                continue
            # extra padding at the end that no window reaches changes nothing
            same = (n + b + e - kk) // s == (n + 2 * b - kk) // s and e > b
            if not same:
                raise self.error(i, f"pads {b} before and {e} after; ConvScope pads both "
                                 "sides alike")
            padding.append(b)
        return tuple(padding)

    # ------------------------------------------------------------------ pools
    def _op_MaxPool(self, i, v, allowed, pads=None):
        return self._pool(i, v, "max", pads)

    def _op_AveragePool(self, i, v, allowed, pads=None):
        return self._pool(i, v, "avg", pads)

    def _op_LpPool(self, i, v, allowed, pads=None):
        p = self.attrs(i).get("p", 2)
        if p != 2:
            raise self.error(i, f"is an L{p} pool; ConvScope's l2 pool is p = 2")
        return self._pool(i, v, "l2", pads)

    def _pool(self, i, v, mode, pads):
        node, a = self.nodes[i], self.attrs(i)
        kernel = tuple(a["kernel_shape"])
        if len(kernel) != 2:
            raise self.error(i, f"is {len(kernel)}-D; ConvScope's pools are 2-D")
        stride = tuple(a.get("strides", (1, 1)))
        if tuple(a.get("dilations", (1, 1))) != (1, 1):
            raise self.error(i, "has dilations; ConvScope's pools have none")
        ceil_mode = bool(a.get("ceil_mode", 0))
        include = bool(a.get("count_include_pad", 0))
        n_in = self.shape[v][1:]
        own_begin, own_end = self._own_pads(i, a, kernel, stride, (1, 1), n_in)
        if pads is not None:
            if mode == "max" and pads[1] > -1e38:
                raise self.error(i, f"follows a Pad with value {pads[1]:g}; a max pool pads "
                                 "with −∞")
            if mode != "max" and pads[1] != 0:
                raise self.error(i, f"follows a Pad with value {pads[1]:g}; ConvScope pads "
                                 "with zeros")
            if mode == "avg":
                if any(own_begin + own_end) and not include:
                    raise self.error(i, "follows a Pad but does not count its own padding")
                if ceil_mode:
                    raise self.error(i, "in ceil mode follows a Pad; ConvScope cannot say it")
                include = True
        begin, end = _add_pads((own_begin, own_end), pads[0] if pads else None)
        values = {"mode": mode, "kernel": _size(kernel), "stride": _size(stride)}
        if mode == "avg":
            values["count_include_pad"] = include
        if begin == end:
            values.update(padding=_size(begin), ceil_mode=ceil_mode)
        else:
            values.update(self._pool_ceil_from_pads(i, mode, include, n_in, kernel, stride,
                                                    begin, end, ceil_mode))
        layer = REGISTRY["pool"](**values)
        # the size ONNX Runtime gives (a folded Pad widens the input it rounds against)
        pre = pads[0] if pads else ((0, 0), (0, 0))
        expected = tuple(_onnx_pool_size(n + pb + pe, k, s, b - pb, e - pe, ceil_mode)
                         for n, k, s, b, e, pb, pe in zip(n_in, kernel, stride, begin, end,
                                                          *pre))
        got = layer.shaped(self.shape[v]).out
        if got is not None and got[1:] != expected:
            raise self.error(i, f"gives {expected[0]}×{expected[1]} where ConvScope's pool "
                             f"would give {got[1]}×{got[2]} (ceil mode after a Pad)")
        return self.emit(layer, i, v, node.output[0])

    def _pool_ceil_from_pads(self, i, mode, include, n_in, kernel, stride, begin, end, ceil_mode):
        """Extra end padding (ConvScope's own export of PyTorch's ceil mode): the symmetric
        padding and ceil mode that give the same windows."""
        if mode == "avg" and include:
            raise self.error(i, f"pads {begin} before and {end} after and counts padding; "
                             "ConvScope pads both sides alike")
        if any(e < b for b, e in zip(begin, end)):
            raise self.error(i, f"pads more before {begin} than after {end}")
        onnx_out = [_onnx_pool_size(n, k, s, b, e, ceil_mode)
                    for n, k, s, b, e in zip(n_in, kernel, stride, begin, end)]
        for ceil_flag in (False, True):
            sizes = [geo.axis_output(n, k, b, s, ceil_flag).out
                     for n, k, s, b in zip(n_in, kernel, stride, begin)]
            if sizes == onnx_out:
                return {"padding": _size(begin), "ceil_mode": ceil_flag}
        raise self.error(i, f"pads {begin} before and {end} after; no symmetric padding gives "
                         "the same windows")

    def _op_Pad(self, i, v, allowed):
        node, a = self.nodes[i], self.attrs(i)
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise self.error(i, f"pads in mode '{mode}'; ConvScope pads with a constant")
        if self.opset >= 11:
            p = self.const(i, node.input[1], "pads").astype(int).tolist()
            value = 0.0
            if len(node.input) > 2 and node.input[2]:
                value = float(self.const(i, node.input[2], "pad value"))
            if len(node.input) > 3 and node.input[3]:
                raise self.error(i, "pads chosen axes; ConvScope pads height and width")
        else:
            p, value = list(a.get("pads")), float(a.get("value", 0.0))
        if len(p) != 8 or any(p[k] for k in (0, 1, 4, 5)) or min(p) < 0:
            raise self.error(i, f"pads {p}; ConvScope pads only height and width, outward")
        nxt = self.only_taker(node.output[0], allowed, {"Conv", "MaxPool", "AveragePool",
                                                         "LpPool"})
        if nxt is None:
            raise self.error(i, "is not followed by a conv or pool alone; ConvScope pads only "
                             "inside those")
        if self.nodes[nxt].op_type == "AveragePool":
            folded = self._avg_with_divisor(i, nxt, v, allowed, (p[2], p[3]), (p[6], p[7]))
            if folded is not None:
                return folded
        if self.nodes[nxt].op_type == "Conv" and value != 0:
            raise self.error(i, f"pads with {value:g}; a conv pads with zeros")
        self.take(nxt)
        self.shape[node.output[0]] = self.shape[v]
        handler = getattr(self, "_op_" + self.nodes[nxt].op_type)
        pads = (((p[2], p[3]), (p[6], p[7])), value)
        if self.nodes[nxt].op_type == "Conv":
            return handler(nxt, v, allowed, pads[0])
        return handler(nxt, v, allowed, pads)

    def _avg_with_divisor(self, i, pool, v, allowed, begin, end):
        """ConvScope's export of an average pool that counts padding in ceil mode:
        Pad → AveragePool → Mul by a constant divisor correction."""
        mul = self.only_taker(self.nodes[pool].output[0], allowed, {"Mul"})
        if mul is None:
            return None
        scale_name = [x for x in self.nodes[mul].input if x != self.nodes[pool].output[0]]
        if not scale_name or scale_name[0] not in self.consts:
            return None
        a = self.attrs(pool)
        kernel, stride = tuple(a["kernel_shape"]), tuple(a.get("strides", (1, 1)))
        layer = REGISTRY["pool"](mode="avg", kernel=_size(kernel), stride=_size(stride),
                                 padding=_size(begin), ceil_mode=True)
        shaped = layer.shaped(self.shape[v])
        if shaped.out is None:
            return None
        plan = pool_plan(layer, self.shape[v], shaped.out)
        scale = self.consts[scale_name[0]]
        if (plan.kind != "divisor" or list(plan.pads) != [*begin, *end]
                or plan.scale.shape != scale.shape or not np.allclose(plan.scale, scale)):
            return None
        self.take(pool)
        self.take(mul)
        return self.emit(layer, mul, v, self.nodes[mul].output[0])

    def _op_GlobalAveragePool(self, i, v, allowed):
        return self._simple(i, v, "global_avg_pool")

    def _op_ReduceMean(self, i, v, allowed):
        node, a = self.nodes[i], self.attrs(i)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.const(i, node.input[1], "axes").tolist()
        if self.rank[v] != 4 or sorted(x % 4 for x in (axes or [])) != [2, 3]:
            raise self.error(i, f"averages over axes {axes}; ConvScope maps only the mean "
                             "over height and width (global_avg_pool)")
        rank = 4 if a.get("keepdims", 1) else 2
        return self.emit(REGISTRY["global_avg_pool"](), i, v, node.output[0], rank)

    # ------------------------------------------------------------------ norms
    def _op_LRN(self, i, v, allowed):
        a = self.attrs(i)
        size = a["size"]
        if size % 2 == 0:
            raise self.error(i, f"has an even size {size}: ONNX centres an even window "
                             "differently from ConvScope (PyTorch)")
        return self._simple(i, v, "lrn", size=size, alpha=_plain(a.get("alpha", 1e-4)),
                            beta=_plain(a.get("beta", 0.75)), k=_plain(a.get("bias", 1.0)))

    def _op_BatchNormalization(self, i, v, allowed):
        node, a = self.nodes[i], self.attrs(i)
        if a.get("training_mode", 0):
            raise self.error(i, "is in training mode")
        if any(self.consumers.get(o) for o in node.output[1:] if o):
            raise self.error(i, "has its running statistics used; ConvScope reads inference "
                             "models")
        names = ("weight", "bias", "running_mean", "running_var")
        params = {k: self.const(i, x, k.replace("_", " ")) for k, x in zip(names,
                                                                          node.input[1:5])}
        momentum = 1.0 - float(np.float32(a.get("momentum", 0.9)))
        layer = REGISTRY["batchnorm"](eps=_plain(a.get("epsilon", 1e-5)),
                                      momentum=_plain(min(max(momentum, 0.0), 1.0)))
        return self.emit(layer, i, v, node.output[0], self.rank[v], params)

    def _lrn_spelled_out(self, v, takers, allowed):
        """ConvScope's export of an even-size LRN (PyTorch's formula, op by op)."""
        nodes = self.nodes
        by_op = {nodes[t].op_type: t for t in takers}
        if len(takers) != 2 or set(by_op) != {"Mul", "Div"}:
            return None
        square, div = by_op["Mul"], by_op["Div"]
        if list(nodes[square].input) != [v, v] or nodes[div].input[0] != v:
            return None
        chain, value = [square], nodes[square].output[0]
        for op in ("Unsqueeze", "AveragePool", "Squeeze", "Mul", "Add", "Pow"):
            nxt = self.only_taker(value, allowed, {op})
            if nxt is None:
                return None
            chain.append(nxt)
            value = nodes[nxt].output[0]
        if list(nodes[div].input) != [v, value]:
            return None
        a = self.attrs(chain[2])
        size = a.get("kernel_shape", [0])[0]
        if (list(a.get("kernel_shape", [])) != [size, 1, 1]
                or list(a.get("pads", [])) != [size // 2, 0, 0, (size - 1) // 2, 0, 0]
                or not a.get("count_include_pad", 0)):
            return None
        numbers = []
        for t in chain[4:]:
            other = [x for x in nodes[t].input if x in self.consts]
            if len(other) != 1:
                return None
            numbers.append(_plain(float(self.consts[other[0]])))
        alpha, k, beta = numbers
        for t in [*chain, div]:
            self.take(t)
        layer = REGISTRY["lrn"](size=size, alpha=alpha, beta=beta, k=k)
        return self.emit(layer, div, v, nodes[div].output[0])

    # ------------------------------------------------------------------ fc and reshapes
    def _op_Flatten(self, i, v, allowed):
        axis = self.attrs(i).get("axis", 1)
        if axis not in (1, 1 - self.rank[v]):
            raise self.error(i, f"flattens from axis {axis}; ConvScope flattens from the "
                             "channels (axis 1)")
        return self._flattened(i, v, allowed)

    def _flattened(self, i, v, allowed):
        """A flatten to (N, D): folded into the fc that follows, or a flatten layer."""
        out = self.nodes[i].output[0]
        nxt = self.only_taker(out, allowed, {"Gemm", "MatMul"})
        if nxt is not None:
            self.take(nxt)
            self.rank[out] = 2
            return self._fc(nxt, v, out, allowed)
        if self.rank[v] == 2:
            return self.passthrough(v, out)
        end, _ = self._vector_back(out, allowed, i)
        return self.emit(REGISTRY["flatten"](), i, v, end, 4 if end != out else 2)

    def _vector_back(self, value, allowed, i):
        """Fold a following reshape of (N, D) back to (N, D, 1, 1): → (value, node)."""
        nxt = self.only_taker(value, allowed, {"Reshape", "Unsqueeze"})
        if nxt is not None and self._is_to_vector4(nxt):
            self.take(nxt)
            return self.nodes[nxt].output[0], nxt
        return value, i

    def _is_to_vector4(self, i) -> bool:
        node = self.nodes[i]
        if node.op_type == "Unsqueeze":
            axes = self.attrs(i).get("axes")
            if axes is None and len(node.input) > 1 and node.input[1] in self.consts:
                axes = self.consts[node.input[1]].tolist()
            return sorted(axes or []) == [2, 3]
        target = self.consts.get(node.input[1])
        if target is None:
            target = self._inferred_shape(node.output[0])
        return target is not None and len(target) == 4 and list(target[2:]) == [1, 1]

    def _op_Reshape(self, i, v, allowed):
        node = self.nodes[i]
        target = self.consts.get(node.input[1]) if len(node.input) > 1 else None
        target = list(target) if target is not None else self._inferred_shape(node.output[0])
        c, h, w = self.shape[v]
        if target is None:
            if self.only_taker(node.output[0], allowed, {"Gemm", "MatMul"}) is not None:
                return self._flattened(i, v, allowed)  # before a Gemm it can only flatten
            raise self.error(i, "reshapes to a shape that is not known before running")
        if len(target) == 2 and target[1] in (-1, c * h * w):
            return self._flattened(i, v, allowed)
        if len(target) == 4 and list(target[2:]) == [1, 1] and target[1] in (-1, c * h * w):
            if self.rank[v] == 2 or (h, w) == (1, 1):
                return self.passthrough(v, node.output[0])
            return self.emit(REGISTRY["flatten"](), i, v, node.output[0])
        raise self.error(i, f"reshapes ({c}, {h}, {w}) to {target}; ConvScope reshapes only "
                         "to flatten")

    def _op_Squeeze(self, i, v, allowed):
        node = self.nodes[i]
        axes = self.attrs(i).get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.const(i, node.input[1], "axes").tolist()
        if self.rank[v] == 4 and self.shape[v][1:] == (1, 1) and sorted(
                a % 4 for a in axes or [2, 3]) == [2, 3]:
            out = self.nodes[i].output[0]
            self.passthrough(v, out)
            self.rank[out] = 2
            return [], out
        raise self.error(i, f"squeezes axes {axes}; ConvScope only drops 1×1 height and width")

    def _op_Unsqueeze(self, i, v, allowed):
        if self.rank[v] == 2 and self._is_to_vector4(i):
            out = self.nodes[i].output[0]
            self.passthrough(v, out)
            self.rank[out] = 4
            return [], out
        raise self.error(i, "adds axes other than height and width to a vector")

    def _inferred_shape(self, value):
        if not hasattr(self, "_inferred"):
            self._inferred = {}
            try:
                import onnx

                inferred = onnx.shape_inference.infer_shapes(self.model, data_prop=True)
                for info in list(inferred.graph.value_info) + list(inferred.graph.output):
                    dims = info.type.tensor_type.shape.dim
                    self._inferred[info.name] = [d.dim_value if d.HasField("dim_value")
                                                 else -1 for d in dims]
            except Exception:  # shape inference is a help, not a requirement
                pass
        shape = self._inferred.get(value)
        if shape is not None and len(shape) > 1:
            shape = [0, *shape[1:]]  # the batch is whatever comes in
        return shape

    def _op_Gemm(self, i, v, allowed):
        if self.rank[v] != 2:
            raise self.error(i, "takes a tensor that is not flat")
        return self._fc(i, v, v, allowed)

    def _op_MatMul(self, i, v, allowed):
        return self._op_Gemm(i, v, allowed)

    def _fc(self, i, v, flat, allowed):
        """Gemm or MatMul (+ Add) on the flattened ``flat`` → fc layer on ``v``."""
        node, a = self.nodes[i], self.attrs(i)
        if node.input[0] != flat:
            raise self.error(i, "multiplies the data from the right; ConvScope's fc is x·Wᵀ")
        b = self.const(i, node.input[1], "weights")
        if b.ndim != 2:
            raise self.error(i, f"has {b.ndim}-D weights")
        last = node.output[0]
        bias = None
        if node.op_type == "Gemm":
            if a.get("transA", 0):
                raise self.error(i, "transposes its input")
            weight = (b if a.get("transB", 0) else b.T) * np.float32(a.get("alpha", 1.0))
            if len(node.input) > 2 and node.input[2]:
                bias = self.const(i, node.input[2], "bias") * np.float32(a.get("beta", 1.0))
        else:
            weight = b.T
            add = self.only_taker(last, allowed, {"Add"})
            if add is not None:
                other = [x for x in self.nodes[add].input if x != last]
                if len(other) == 1 and other[0] in self.consts:
                    self.take(add)
                    bias, last, i = self.consts[other[0]], self.nodes[add].output[0], add
        units, d = weight.shape
        if d != prod(self.shape[v]):
            raise self.error(i, f"takes {d} inputs but gets {prod(self.shape[v])}")
        params = {"weight": weight}
        if bias is not None:
            params["bias"] = np.broadcast_to(np.asarray(bias, np.float32).reshape(-1)
                                             if np.size(bias) == units else bias, (units,))
        out, _ = self._vector_back(last, allowed, i)
        layer = REGISTRY["fc"](units=int(units), bias=bias is not None)
        return self.emit(layer, i, v, out, 4 if out != last else 2, params)

    # ------------------------------------------------------------------ blocks
    def block(self, v, takers, allowed):
        """A fork at ``v``: the branches up to where they meet → (layers, value)."""
        lrn = self._lrn_spelled_out(v, takers, allowed)
        if lrn is not None:
            return lrn
        end = self._meeting_point(v, allowed)
        m = self.producer[end]
        node = self.nodes[m]
        if node.op_type not in JOINS:
            raise self.error(m, f"joins the branches that fork at '{v}'; ConvScope joins "
                             "branches only with Add (residual) or Concat (concat)")
        self.take(m)
        inputs = list(node.input)
        for x in inputs:
            if x not in self.data_values:
                raise self.error(m, f"takes the constant '{x}'; ConvScope joins only branches "
                                 "that fork from the data")
        region = self._descendants(v, allowed) & self._ancestors(end) - {m}
        branches = []
        for x in inputs:
            if x == v:
                branches.append([])
                continue
            within = region & self._ancestors(x)
            branches.append(self.sequence(v, x, within))
        if node.op_type == "Add":
            if len(branches) != 2:
                raise self.error(m, f"adds {len(branches)} tensors")
            body, shortcut = branches
            if (not body and shortcut) or (body and shortcut and len(shortcut) > len(body)):
                body, shortcut = shortcut, body
            layer = REGISTRY["residual"](body=body, shortcut=shortcut)
        else:
            axis = self.attrs(m).get("axis", 1)
            if axis not in (1, 1 - self.rank[v]):
                raise self.error(m, f"joins along axis {axis}; ConvScope's concat joins "
                                 "channels (axis 1)")
            layer = REGISTRY["concat"](branches=branches)
        shapes = [self.shape[x] for x in inputs]
        combined = layer.combine(shapes)
        if combined.out is None:
            raise self.error(m, combined.diagnostics[0].message)
        layer.name = self.name_for(end, m)
        self.shape[end] = combined.out
        self.rank[end] = self.rank[inputs[0]]
        return [layer], end

    def _meeting_point(self, v, allowed):
        """The first value every path from ``v`` passes through (its post-dominator): walk
        the nodes in graph order, keeping the values still waiting for takers."""
        waiting = {v: len(self.takers(v, allowed))}
        for i in sorted(allowed):
            inputs = [x for x in dict.fromkeys(self.nodes[i].input) if x in waiting]
            if not inputs:
                continue
            for x in inputs:
                waiting[x] -= 1
                if waiting[x] == 0:
                    del waiting[x]
            out = self.nodes[i].output[0]
            waiting[out] = max(1, len(self.takers(out, allowed)))
            if len(waiting) == 1:
                return out
        raise ConvScopeError(f"the branches that fork at '{v}' never meet again")

    def _descendants(self, v, allowed) -> set:
        seen, todo = set(), [v]
        while todo:
            for i in self.takers(todo.pop(), allowed):
                if i not in seen:
                    seen.add(i)
                    todo.extend(o for o in self.nodes[i].output if o)
        return seen


# ============================================================================ helpers
def _constant_value(node, numpy_helper):
    from onnx import helper

    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if attr.name == "value":
            return numpy_helper.to_array(value)
        if attr.name in ("value_float", "value_int"):
            return np.array(value)
        if attr.name in ("value_floats", "value_ints"):
            return np.array(list(value))
    return None


def _foldable(node, consts) -> bool:
    """A small computation on constants only (not a weight-sized one)."""
    inputs = [x for x in node.input if x]
    return (bool(inputs) and node.domain in ("", "ai.onnx") and node.op_type not in SHAPE_OPS
            and all(x in consts for x in inputs)
            and sum(np.size(consts[x]) for x in inputs) <= 1 << 16)


def _add_pads(own, extra):
    """((top, left), (bottom, right)) plus a folded Pad's, or ``own`` alone."""
    (b, e) = own
    if extra is None:
        return tuple(b), tuple(e)
    (xb, xe) = extra
    return (b[0] + xb[0], b[1] + xb[1]), (e[0] + xe[0], e[1] + xe[1])


def _onnx_pool_size(n, k, s, b, e, ceil_mode):
    """The size ONNX Runtime gives a pool (it drops a ceil window that would start in the
    end padding, as PyTorch does)."""
    span = n + b + e - k
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + b:
        out -= 1
    return out


def _size(pair):
    """(h, w) as the file writes it: one number when both are the same."""
    h, w = (int(x) for x in pair)
    return h if h == w else [h, w]


def _plain(value) -> float:
    """A float32 attribute as the number a person wrote (7 significant digits)."""
    return float(f"{float(value):.{_DIGITS}g}")


def _module_path(node_name: str) -> str:
    """PyTorch's scoped node name as a module path: /layer1/layer1.0/conv1/Conv →
    layer1_0_conv1 (the last part is the op)."""
    parts = [p for p in (node_name or "").split("/") if p][:-1]
    path: list = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1:] = part.split(".")
        else:
            path.extend(part.split("."))
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", "_".join(path)).strip("_")
    return name[:64]
