"""Following the data from the input to the output: chains of layers, and blocks where the
chain forks and meets again. Each node is checked against its row of the op table (its
attributes and inputs) and handed to the row's handler; the walker keeps the shapes, names
and weights of the layers they make.
"""

from __future__ import annotations

import json
import re

import numpy as np

from ...analysis import analyze
from ...errors import ConvScopeError
from ...layers import REGISTRY
from ...network import NAME_RE, InputSpec, Network, assign_names, iter_layers
from . import ops, patterns
from .graph import ONNX_DOMAINS, Graph
from .table import JOINS, OPS, supported
from .values import attribute_value, plain, type_word

# Blocks inside blocks deeper than this are refused (the layers that read them recurse).
MAX_NESTING = 50


class Walker(Graph):
    def __init__(self, model, default_name, source):
        super().__init__(model, default_name, source)
        self.used: set = set()  # node indices already mapped to a layer
        self.shape: dict = {}  # value → (C, H, W) as ConvScope sees it
        self.rank: dict = {}  # value → 4 (N, C, H, W) or 2 (N, D)
        self.channels_last: set = set()  # values laid out (N, H, W, C) by a Transpose
        self.made: dict = {}  # value → the layer that ends at it (to fold a scale into)
        self.maker = {out: k for k, outs in enumerate(self.outs) for out in outs if out}
        self.params: dict = {}  # id(layer) → {param: array}
        self.taken: set = set()
        self._attrs: dict = {}

    # ------------------------------------------------------------------ overall
    def network(self) -> Network:
        meta = {p.key: p.value for p in self.model.metadata_props}
        spec = self._input_spec(meta)
        self.shape[self.input] = spec.shape
        self.rank[self.input] = self.input_rank
        layers = self.sequence(self.input, self.output, self.live)
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
        seed = seed if re.fullmatch(r"[0-9]{1,10}", seed) else "0"
        net = Network(name=meta.get("convscope.name") or self.default_name, input=spec,
                      layers=layers, description=self._description(meta),
                      seed=int(seed) if int(seed) < 2**32 else 0)
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
        except (json.JSONDecodeError, RecursionError):
            saved = {}
        if isinstance(saved, dict) and (saved.get("channels"), saved.get("height"),
                                        saved.get("width")) == (c, h, w):
            for key in ("mean", "std"):
                v = saved.get(key)
                if isinstance(v, list) and len(v) == c and all(
                        isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
                    setattr(spec, key, [float(e) for e in v])
        return spec

    # ------------------------------------------------------------------ a node's row
    def row(self, i):
        return OPS[self.nodes[i].op_type]

    def attrs(self, i) -> dict:
        """Node ``i``'s attributes as its table row declares them: checked, defaults filled
        in, required ones present."""
        if i not in self._attrs:
            given = {a.name: a for a in self.nodes[i].attribute}
            values = {}
            for name, spec in self.row(i).attrs.items():
                if name not in given:
                    if spec.required:
                        raise self.error(i, f"has no attribute '{name}', which it needs")
                    values[name] = spec.default
                    continue
                what = f"{self.describe(i)} attribute '{name}'"
                values[name] = self._checked(i, name, spec,
                                             attribute_value(given[name], spec.kind, what))
            self._attrs[i] = values
        return self._attrs[i]

    def _checked(self, i, name, spec, value):
        """``value`` of attribute ``name`` within the bounds of its ``spec``."""
        many = value if isinstance(value, list) else [value]
        if spec.length is not None and len(many) != spec.length:
            raise self.error(i, f"has {len(many)} values in '{name}'; ConvScope reads 2-D ops "
                             f"({spec.length} values)")
        for x in many:
            if spec.minimum is not None and x < spec.minimum:
                raise self.error(i, f"has '{name}' {plain(value)}; each must be at least "
                                 f"{spec.minimum}")
            if spec.maximum is not None and x > spec.maximum:
                raise self.error(i, f"has '{name}' {plain(value)}, absurdly large (at most "
                                 f"{spec.maximum})")
        return value

    def has_input(self, i, k) -> bool:
        node = self.nodes[i]
        return len(node.input) > k and bool(node.input[k])

    def _input_name(self, i, k) -> str:
        names = self.row(i).inputs if self.nodes[i].op_type in OPS else ()
        return f"{names[k]} (input {k + 1})" if k < len(names) else f"input {k + 1}"

    def check_inputs(self, i):
        """Node ``i`` has every input its row requires."""
        for k in range(self.row(i).required):
            if not self.has_input(i, k):
                raise self.error(i, f"has no {self._input_name(i, k)}")

    def const(self, i, k) -> np.ndarray:
        """Input ``k`` of node ``i``, which must be stored numbers (weights, pads, …)."""
        if not self.has_input(i, k):
            raise self.error(i, f"has no {self._input_name(i, k)}")
        return self.const_named(i, self.nodes[i].input[k], self._input_name(i, k))

    def known(self, value, visiting=frozenset()) -> bool:
        """Whether ``value`` is a constant, or can be worked out now that the shapes of the
        data it reads the sizes of are known (PyTorch's chunk and view with a batch that is
        not fixed read x.size(1) while running)."""
        if value in self.consts:
            return True
        k = self.maker.get(value)
        if k is None or value in self.data_values or value in visiting:
            return False
        node = self.nodes[k]
        if node.op_type == "Shape" and node.domain in ONNX_DOMAINS:
            x = node.input[0]
            if x not in self.shape or self.rank[x] != 4 or x in self.channels_last:
                return False
            dims = [1, *self.shape[x]]  # the batch as 1: only the channels and H, W matter
            start = self.raw_attribute(k, "start", "int", 0)
            self.consts[value] = np.array(dims[start:self.raw_attribute(k, "end", "int", 4)],
                                          np.int64)
        elif all(self.known(x, visiting | {value}) for x in self.ins[k] if x):
            self.consts.update(self._folded(k, self.consts))
        return value in self.consts

    def const_named(self, i, value, what="constant"):
        if not self.known(value):
            raise self.error(i, f"computes its {what} '{value}' while running; ConvScope needs "
                             "it stored as a constant (an initializer)")
        array = np.asarray(self.consts[value])
        if array.dtype.kind not in "fiub":
            raise self.error(i, f"has {what} '{value}' of {type_word(array)}; ConvScope needs "
                             "numbers")
        return array

    def scalar(self, i, k) -> float:
        """Input ``k`` of node ``i`` as one number."""
        array = self.const(i, k)
        if array.size != 1:
            raise self.error(i, f"has {array.size} numbers in its {self._input_name(i, k)}; "
                             "it takes one")
        return float(array.reshape(-1)[0])

    # ------------------------------------------------------------------ the chain
    def sequence(self, v, end, allowed, depth=0) -> list:
        """The layers that take value ``v`` to value ``end`` through nodes ``allowed``."""
        layers = []
        while v != end:
            takers = self.takers(v, allowed)
            if not takers:
                raise ConvScopeError(f"value '{v}' does not lead to the output")
            if len(takers) > 1 or self.joins_paths(takers[0]):
                new, v = self.block(v, takers, allowed, depth)
            else:
                new, v = self.map_node(takers[0], v, allowed)
            layers.extend(new)
        return layers

    def joins_paths(self, i) -> bool:
        """Whether node ``i`` ends a block: a Concat (of one input too: a concat of one
        branch), or an Add, Sum or Mul where two data paths meet."""
        op = self.nodes[i].op_type
        return op in JOINS and (OPS[op].handler is None or len(self.data_inputs(i)) > 1)

    def take(self, i):
        """Mark node ``i`` as mapped (checking its inputs against its row, if it has one)."""
        if i in self.used:
            raise self.error(i, "is shared by two branches; ConvScope's blocks need branches "
                             "that meet only at their ends")
        if self.nodes[i].op_type in OPS:
            self.check_inputs(i)
        self.used.add(i)

    def map_node(self, i, v, allowed):
        """Map node ``i`` (which takes ``v``) and whatever folds into it → (layers, value)."""
        node = self.nodes[i]
        if node.domain not in ONNX_DOMAINS:
            raise self.error(i, f"is from the op set '{node.domain}', which ConvScope does "
                             "not map")
        row = OPS.get(node.op_type)
        if row is None or row.handler is None:
            raise self.error(i, f"has no ConvScope layer (ConvScope maps {supported()})")
        if len(self.data_inputs(i)) > 1:
            raise self.error(i, "takes more than one data input; ConvScope layers take one")
        if node.input[0] != v and not row.either_side:
            raise self.error(i, "takes the data as a later input; ConvScope layers take it "
                             "first")
        if v in self.channels_last and not row.channels_last:
            raise self.error(i, "works on data a Transpose laid out as (N, H, W, C); "
                             "ConvScope reads only " + ", ".join(
                                 op for op, r in OPS.items() if r.channels_last)
                             + " there, before a Transpose back")
        self.take(i)
        return row.handler(self, i, v, allowed)

    def make(self, i, kind, **values):
        """A ``kind`` layer with ``values``, or ConvScopeError naming node ``i``."""
        try:
            return REGISTRY[kind](**values)
        except ConvScopeError as err:
            raise self.error(i, f"gives a {kind} layer ConvScope refuses: {err.message}") \
                from None

    def emit(self, layer, i, v, out, rank=4, params=None):
        """Finish one layer: its name, shape and weights; the value it ends at."""
        layer.name = self.name_for(out, i)
        shaped = layer.shaped(self.shape[v])
        if shaped.out is None:
            message = shaped.diagnostics[0].message if shaped.diagnostics else "no shape"
            raise self.error(i, f"gives a layer that cannot run on {self.shape[v]}: {message}")
        self.shape[out] = shaped.out
        self.rank[out] = rank
        self._same_layout(v, out)
        self.made[out] = layer
        if params:
            self.params[id(layer)] = {k: np.ascontiguousarray(a, np.float32)
                                      for k, a in params.items()}
        return [layer], out

    def passthrough(self, v, out):
        self.shape[out] = self.shape[v]
        self.rank[out] = self.rank[v]
        self._same_layout(v, out)
        return [], out

    def _same_layout(self, v, out):
        if v in self.channels_last:
            self.channels_last.add(out)

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

    # ------------------------------------------------------------------ blocks
    def block(self, v, takers, allowed, depth):
        """A fork at ``v``: the branches up to where they meet → (layers, value)."""
        lrn = ops.lrn_spelled_out(self, v, takers, allowed)
        if lrn is not None:
            return lrn
        end = self._meeting_point(v, allowed)
        m = self.producer[end]
        node = self.nodes[m]
        if node.op_type not in JOINS or node.domain not in ONNX_DOMAINS:
            raise self.error(m, f"joins the branches that fork at '{v}'; ConvScope joins "
                             "branches only with Add or Sum (residual), Mul (residual "
                             "multiplying) or Concat (concat)")
        if depth >= MAX_NESTING:
            raise self.error(m, f"closes a block nested more than {MAX_NESTING} deep; "
                             f"ConvScope reads at most {MAX_NESTING}")
        inputs = self.ins[m]
        for x in inputs:
            if x not in self.data_values:
                raise self.error(m, f"takes the constant '{x}'; ConvScope joins only branches "
                                 "that fork from the data")
        region = self.descendants(v, allowed) & self.ancestors(end) - {m}
        if node.op_type == "Mul":
            product = patterns.product_of(self, v, m, region, allowed)
            if product is not None:
                return product
        self.take(m)
        if node.op_type == "Concat":
            inputs = self.group_concat(m, inputs, region)  # adds its nodes to the region
        branches = [[] if x == v else self.sequence(v, x, region & self.ancestors(x),
                                                    depth + 1) for x in inputs]
        layer = self._join(m, v, branches)
        combined = layer.combine([self.shape[x] for x in inputs])
        if combined.out is None:
            raise self.error(m, combined.diagnostics[0].message)
        layer.name = self.name_for(end, m)
        self.shape[end] = combined.out
        self.rank[end] = self.rank[inputs[0]]
        if any(x in self.channels_last for x in inputs):
            raise self.error(m, "joins data a Transpose laid out as (N, H, W, C); ConvScope "
                             "joins branches in (N, C, H, W)")
        return [layer], end

    def group_concat(self, m, inputs, region) -> list:
        """Concat node ``m``'s inputs, those that share nodes after the fork (Inception-v3's
        branches that fork again) gathered into a Concat of their own, which nests."""
        groups: list = []  # [inputs, nodes they depend on]
        for x in inputs:
            before = self.ancestors(x) & region
            if groups and groups[-1][1] & before:
                groups[-1][0].append(x)
                groups[-1][1] |= before
                continue
            if any(nodes & before for _, nodes in groups):
                raise self.error(m, f"joins '{x}', which shares nodes with a branch that is "
                                 "not next to it; ConvScope's concat keeps branches apart")
            groups.append([[x], before])
        if len(groups) == len(inputs):
            return inputs
        self.ins[m] = [xs[0] if len(xs) == 1 else self.add_concat(xs, m, region)
                       for xs, _ in groups]
        return self.ins[m]

    def _join(self, m, v, branches):
        """The residual or concat layer node ``m`` makes of ``branches``."""
        row = self.row(m)
        if row.join == "residual":
            join = "mul" if self.nodes[m].op_type == "Mul" else "add"
            verb = {"mul": "multiplies", "add": "adds"}[join]
            if len(branches) != 2:
                raise self.error(m, f"{verb} {len(branches)} tensors; a residual {verb} two")
            body, shortcut = branches
            if (not body and shortcut) or (body and shortcut and len(shortcut) > len(body)):
                body, shortcut = shortcut, body
            return self.make(m, "residual", body=body, shortcut=shortcut, join=join)
        axis = self.attrs(m)["axis"]
        if axis not in (1, 1 - self.rank[v]):
            raise self.error(m, f"joins along axis {axis}; ConvScope's concat joins channels "
                             "(axis 1)")
        return self.make(m, "concat", branches=branches)

    def _meeting_point(self, v, allowed):
        """The first value every path from ``v`` passes through (its post-dominator): walk
        the nodes in graph order, keeping the values still waiting for takers."""
        waiting = {v: len(self.takers(v, allowed))}
        for i in sorted(allowed):
            inputs = [x for x in dict.fromkeys(self.ins[i]) if x in waiting]
            if not inputs:
                continue
            for x in inputs:
                waiting[x] -= 1
                if waiting[x] == 0:
                    del waiting[x]
            out = self.outs[i][0]
            waiting[out] = max(1, len(self.takers(out, allowed)))
            if len(waiting) == 1:
                return out
        raise ConvScopeError(f"the branches that fork at '{v}' never meet again")


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
