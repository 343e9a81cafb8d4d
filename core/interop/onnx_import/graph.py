"""The graph as ConvScope reads it: constants (initializers, Constant nodes and whatever can be
worked out from them alone), the one image input, and which nodes compute on the data.

Folding runs a node whose inputs are all constants through ONNX's reference implementation,
at any size, but only for ops whose output size can be told from their inputs beforehand, so
an absurd declared size (a ConstantOfShape of 10¹² zeros) is refused before anything is
allocated.
"""

from __future__ import annotations

from math import ceil, prod

import numpy as np

from ...errors import ConvScopeError
from ...fields import MAX_COUNT, MAX_SPATIAL
from .values import attribute_value, check_count, constant_value, one_line, tensor_array

ONNX_DOMAINS = ("", "ai.onnx")
SHAPE_OPS = {"Shape", "Size"}  # their outputs are shapes, not data

# ops folded on constants, by how their output size follows from their inputs
_SAME_AS_FIRST = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity",
                  "Cast", "Slice", "Shape", "Size", "ReduceMean", "ReduceSum", "ReduceProd",
                  "ReduceMax", "ReduceMin", "Softmax"}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where",
              "Equal", "Less", "Greater", "And", "Or", "Not", "Neg", "Abs", "Sqrt",
              "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Relu", "Sigmoid", "Tanh", "Clip",
              "Erf", "Sign", "Mod"}


def _gather_size(arrays, axis):
    data, indices = arrays[0], arrays[1]
    if data.ndim == 0:
        return None
    return data.size // max(data.shape[axis % data.ndim], 1) * indices.size


def _range_size(arrays):
    start, limit, delta = (float(np.asarray(a).reshape(-1)[0]) for a in arrays[:3])
    return None if delta == 0 else max(ceil((limit - start) / delta), 0)


def _fold_size(op, arrays, axis):
    """How many numbers folding ``op`` on ``arrays`` makes (the largest output), or None when
    the op is not folded. ``axis`` is the node's axis attribute (for Gather)."""
    shapes = [a.shape for a in arrays]
    if op in _SAME_AS_FIRST:
        return arrays[0].size if op not in SHAPE_OPS else arrays[0].ndim
    if op in _BROADCAST:
        return prod(np.broadcast_shapes(*shapes))
    if op == "Concat":
        return sum(a.size for a in arrays)
    if op == "Gather":
        return _gather_size(arrays, axis)
    if op == "ConstantOfShape":
        return prod(int(d) for d in arrays[0].reshape(-1)) if arrays else 1
    if op == "Expand":
        return prod(np.broadcast_shapes(shapes[0], tuple(int(d) for d in arrays[1].reshape(-1))))
    if op == "Tile":
        return arrays[0].size * prod(int(r) for r in arrays[1].reshape(-1))
    if op == "Range":
        return _range_size(arrays)
    return None


class Graph:
    """The model's constants, its input, and the data flow from the input to the output."""

    def __init__(self, model, default_name, source):
        self.model = model
        self.graph = model.graph
        self.default_name, self.source = default_name, source
        self.opset = next((int(o.version) for o in model.opset_import
                           if o.domain in ONNX_DOMAINS), 1)
        self.nodes = list(self.graph.node)
        # plain lists of each node's input and output names: protobuf fields are slow to
        # read in the walks over the graph
        self.ins = [list(node.input) for node in self.nodes]
        self.outs = [list(node.output) for node in self.nodes]
        self.consts = self._constants()
        self.input = self._input()
        self._splits_as_slices()
        self._concats_of_concats()
        self._index_data_nodes()
        self.output = self._output()

    # ------------------------------------------------------------------ messages
    def describe(self, i) -> str:
        node = self.nodes[i]
        name = node.name or f"#{i} → {node.output[0] if node.output else '?'}"
        return f"node '{one_line(name, 80)}' ({one_line(node.op_type, 40)})"

    def error(self, i, message) -> ConvScopeError:
        return ConvScopeError(f"{self.describe(i)} {message}")

    # ------------------------------------------------------------------ constants
    def _constants(self) -> dict:
        consts = {t.name: tensor_array(t, f"initializer '{t.name}'")
                  for t in self.graph.initializer}
        self._sizes: dict = {}  # Shape outputs of data → their dims (−1 where unknown)
        self._input_dims = {
            v.name: [d.dim_value if d.HasField("dim_value") else -1
                     for d in v.type.tensor_type.shape.dim]
            for v in self.graph.input if v.name not in consts}
        for i, node in enumerate(self.nodes):
            if node.domain not in ONNX_DOMAINS:
                continue
            try:
                if node.op_type == "Constant":
                    value = constant_value(node, self.describe(i))
                    if value is not None and node.output:
                        consts[node.output[0]] = value
                elif node.op_type in ("Shape", "Gather") and node.input[0] not in consts:
                    consts.update(self._known_sizes(i, consts))
                else:
                    consts.update(self._folded(i, consts))
            except ConvScopeError as err:
                if self.describe(i) in err.message:
                    raise
                raise self.error(i, err.message) from None
        return consts

    def _known_sizes(self, i, consts) -> dict:
        """The sizes of a data value that shape inference knows: Shape of it (all of them
        known), or Gather of the known ones from its Shape (PyTorch's chunk and view read
        x.size(1) so; the batch may stay unknown)."""
        node = self.nodes[i]
        if node.op_type == "Shape":
            dims = self._static_dims(node.input[0])
            if dims is None:
                return {}
            start = self.raw_attribute(i, "start", "int", 0)
            end = self.raw_attribute(i, "end", "int", len(dims))
            self._sizes[node.output[0]] = dims[start:end]
            if min(dims[start:end], default=1) < 1:
                return {}
            return {node.output[0]: np.array(dims[start:end], np.int64)}
        dims = self._sizes.get(node.input[0])
        if dims is None or len(node.input) < 2 or node.input[1] not in consts:
            return {}
        if self.raw_attribute(i, "axis", "int", 0) != 0:
            return {}
        index = np.asarray(consts[node.input[1]]).astype(np.int64)
        if np.any(index >= len(dims)) or np.any(index < -len(dims)):
            return {}
        picked = np.asarray(dims, np.int64)[index]
        return {} if np.any(picked < 1) else {node.output[0]: picked}

    def _static_dims(self, value):
        """Shape inference's dims of ``value``, batch included (−1 where unknown), or None."""
        self.inferred_shape(value)
        dims = self._inferred.get(value)
        if dims is None and value in self._input_dims:
            dims = self._input_dims[value]
        return list(dims) if dims else None

    def _folded(self, i, consts) -> dict:
        """Node ``i`` worked out, when all its inputs are constants and its op is foldable."""
        node = self.nodes[i]
        inputs = [x for x in node.input if x]
        if not inputs and node.op_type != "ConstantOfShape" or not all(
                x in consts for x in inputs):
            return {}
        arrays = [np.asarray(consts[x]) for x in inputs]
        axis = next((a.i for a in node.attribute if a.name == "axis" and a.type == 2), 0)
        try:
            size = _fold_size(node.op_type, arrays, axis)
        except (ValueError, TypeError, OverflowError, IndexError):
            return {}  # inputs that do not fit together: the node stays, named if it matters
        if size is None:
            return {}
        check_count(size, "would make")
        return self._fold(node, consts)

    def _fold(self, node, consts) -> dict:
        """Work out a node whose inputs are all constants (PyTorch leaves some: the pads of
        F.pad, reshape targets) with ONNX's reference implementation."""
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        inputs = [x for x in dict.fromkeys(node.input) if x]
        outputs = [x for x in node.output if x]
        graph = helper.make_graph(
            [node], "fold", [], [helper.make_empty_tensor_value_info(x) for x in outputs],
            initializer=[numpy_helper.from_array(np.asarray(consts[x]), x) for x in inputs])
        model = helper.make_model(graph, opset_imports=self.model.opset_import,
                                  ir_version=self.model.ir_version)
        try:
            values = ReferenceEvaluator(model).run(None, {})
        except Exception:  # not foldable after all: it stays a node, named if it matters
            return {}
        return {x: np.asarray(v) for x, v in zip(outputs, values)}

    # ------------------------------------------------------------------ input and output
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
        if len(dims) not in (2, 4):
            raise ConvScopeError(f"input '{value.name}' has {len(dims)} dimensions; ConvScope "
                                 "reads images (N, C, H, W) or vectors (N, D)")
        self.input_rank = len(dims)
        sizes = []
        for axis, d, limit in zip(("channels", "height", "width"), dims[1:],
                                  (MAX_COUNT, MAX_SPATIAL, MAX_SPATIAL)):
            if not d.HasField("dim_value") or d.dim_value < 1:
                raise ConvScopeError(f"input '{value.name}' has no fixed {axis} "
                                     f"('{d.dim_param or '?'}'); export it with a fixed size")
            if d.dim_value > limit:
                raise ConvScopeError(f"input '{value.name}' has {axis} {d.dim_value}, "
                                     f"absurdly large (at most {limit})")
            sizes.append(int(d.dim_value))
        self.input_shape = tuple(sizes + [1] * (3 - len(sizes)))  # (N, D) is read as D×1×1
        return value.name

    # ------------------------------------------------------------------ rewrites
    def _splits_as_slices(self):
        """A Split of the data along the channels becomes one Slice per piece, so each
        piece starts a branch of its own (a channel_slice) from the value split."""
        from onnx import helper

        nodes, ins, outs = [], [], []
        for i, node in enumerate(self.nodes):
            sizes = None
            if node.op_type == "Split" and node.domain in ONNX_DOMAINS and node.input \
                    and node.input[0] not in self.consts:
                sizes = self._split_sizes(i)
            if sizes is None:
                nodes.append(node)
                ins.append(self.ins[i])
                outs.append(self.outs[i])
                continue
            start = 0
            for k, (size, out) in enumerate(zip(sizes, node.output)):
                names = [f"{out}/{part}" for part in ("starts", "ends", "axes")]
                for name, number in zip(names, (start, start + size, 1)):
                    self.consts[name] = np.array([number], np.int64)
                start += size
                if not out:
                    continue
                piece = helper.make_node("Slice", [node.input[0], *names], [out],
                                         name=f"{node.name or 'split'}/{k}")
                nodes.append(piece)
                ins.append(list(piece.input))
                outs.append([out])
        self.nodes, self.ins, self.outs = nodes, ins, outs

    def _split_sizes(self, i):
        """The channel counts of Split node ``i``'s pieces, or None (it stays a Split and
        is refused by name if it matters)."""
        node = self.nodes[i]
        axis = self.raw_attribute(i, "axis", "int", 0)
        if axis != 1:
            return None
        sizes = self.raw_attribute(i, "split", "ints")
        if sizes is None and len(node.input) > 1 and node.input[1]:
            if node.input[1] not in self.consts:
                return None
            sizes = np.asarray(self.consts[node.input[1]]).reshape(-1).astype(int).tolist()
        if sizes is None:
            shape = self.inferred_shape(node.input[0])
            if not shape or len(shape) < 2 or shape[1] < 1 or shape[1] % len(node.output):
                return None
            sizes = [shape[1] // len(node.output)] * len(node.output)
        if len(sizes) != len(node.output) or min(sizes) < 1:
            return None
        return sizes

    def _concats_of_concats(self):
        """DenseNet's "concatenate everything so far": a Concat whose first inputs are
        exactly an earlier Concat's takes that Concat's result instead, so each is a concat
        of two (the features so far, the new ones) that nests."""
        seen: dict = {}
        for i, node in enumerate(self.nodes):
            if node.op_type != "Concat" or node.domain not in ONNX_DOMAINS:
                continue
            axis = self.raw_attribute(i, "axis", "int", None)
            inputs = self.ins[i]
            for j in range(len(inputs) - 1, 1, -1):
                earlier = seen.get((axis, tuple(inputs[:j])))
                if earlier is not None:
                    self.ins[i] = [earlier, *inputs[j:]]
                    break
            seen[(axis, tuple(inputs))] = self.outs[i][0]

    def add_concat(self, inputs, like, allowed) -> str:
        """A Concat of ``inputs`` (a group of Concat node ``like``'s inputs that share
        nodes: branches that fork again) added to the graph → its output."""
        from onnx import helper

        node = self.nodes[like]
        out = f"{self.outs[like][0]}/{inputs[0]}…{inputs[-1]}"
        axis = self.raw_attribute(like, "axis", "int", 1)
        self.nodes.append(helper.make_node("Concat", inputs, [out], name=out, axis=axis,
                                           domain=node.domain))
        k = len(self.nodes) - 1
        self.ins.append(list(inputs))
        self.outs.append([out])
        for x in dict.fromkeys(inputs):
            self.consumers[x] = [k if c == like else c for c in self.consumers[x]]
        self.consumers[out] = [like]
        self.producer[out] = k
        self.data_values.add(out)
        allowed.add(k)
        return out

    def _index_data_nodes(self):
        """Which nodes compute on the data (not on weights or shapes), who makes and who
        takes every data value."""
        data = {self.input}
        self.producer: dict = {}
        self.consumers: dict = {}
        for i, node in enumerate(self.nodes):
            if node.op_type in SHAPE_OPS or not any(v in data for v in self.ins[i]):
                continue
            if not node.output or not node.output[0]:
                raise self.error(i, "has no output")
            for v in self.outs[i]:
                if v:
                    if v in self.producer:
                        raise self.error(i, f"makes '{v}', which another node makes too")
                    data.add(v)
                    self.producer[v] = i
            for v in dict.fromkeys(self.ins[i]):
                if v in data:
                    self.consumers.setdefault(v, []).append(i)
        self.data_values = data

    def _output(self) -> str:
        outs = [o.name for o in self.graph.output if o.name in self.data_values]
        if not outs:
            raise ConvScopeError("no output of the model depends on its input")
        ancestors = {o: self.ancestors(o) for o in outs}
        final = [o for o in outs if not any(
            o != other and self.producer.get(o) in ancestors[other] for other in outs)]
        if len(final) != 1:
            raise ConvScopeError(f"the model has {len(final)} separate outputs "
                                 f"({', '.join(final)}); a ConvScope network has one")
        self.live = ancestors[final[0]]
        return final[0]

    # ------------------------------------------------------------------ data flow
    def ancestors(self, value) -> set:
        """The data nodes ``value`` depends on."""
        seen, todo = set(), [value]
        while todo:
            i = self.producer.get(todo.pop())
            if i is None or i in seen:
                continue
            seen.add(i)
            todo.extend(v for v in self.ins[i] if v in self.data_values)
        return seen

    def descendants(self, v, allowed) -> set:
        """The nodes in ``allowed`` that depend on value ``v``."""
        seen, todo = set(), [v]
        while todo:
            for i in self.takers(todo.pop(), allowed):
                if i not in seen:
                    seen.add(i)
                    todo.extend(o for o in self.outs[i] if o)
        return seen

    def data_inputs(self, i) -> list:
        return [v for v in self.ins[i] if v in self.data_values]

    def takers(self, value, allowed) -> list:
        return [i for i in self.consumers.get(value, []) if i in allowed]

    def only_taker(self, value, allowed, ops):
        """The one node in ``allowed`` that takes ``value``, if it is one of ``ops``."""
        takers = self.takers(value, allowed)
        if len(takers) == 1 and self.nodes[takers[0]].op_type in ops:
            return takers[0]
        return None

    def inferred_shape(self, value):
        """ONNX shape inference's shape of ``value`` (batch 0), or None."""
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

    def raw_attribute(self, i, name, kind, default=None):
        """One attribute of node ``i`` of ``kind`` (checked), for nodes outside the table."""
        for attr in self.nodes[i].attribute:
            if attr.name == name:
                return attribute_value(attr, kind, f"{self.describe(i)} attribute '{name}'")
        return default


