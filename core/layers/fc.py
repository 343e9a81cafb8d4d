"""FC: fully connected."""

from __future__ import annotations

from math import prod

from .. import ops
from ..fields import count, flag
from .base import Example, Footprint, Layer, Shaped, op_dict, register, tensor_bytes, weight_grads
from .emit import to_vector
from .text import Section, n, vol

_LINEAR = '''
class Linear(nn.Linear):
    """Fully connected on the flattened input; the output is (N, units, 1, 1)."""

    def forward(self, x):
        return super().forward(x.flatten(1))[:, :, None, None]
'''


@register
class FC(Layer):
    TYPE, CATEGORY, TITLE = "fc", "FC", "Fully connected"
    ORDER = 20  # place in its palette group
    SUMMARY = ("FC: every output is connected to every input value; a spatial input is "
               "flattened first. Weights: inputs × units.")
    FIELDS = (
        count("units", 1000, "how many outputs", required=True),
        flag("bias", True, "add one learned number per unit"),
    )
    LABEL, TABLE_LABEL, THIN = "FC", "FC", False
    NEEDS = "fc's dW = dout · inputᵀ"
    EXAMPLES = {
        "fc_spatial": Example((2, 3, 3), {"units": 5}),
        "fc_no_bias": Example((6, 1, 1), {"units": 3, "bias": False}),
    }

    def describe(self):
        return f"{self.values['units']} units"

    def shaped(self, shape):
        c, h, w = shape
        return Shaped((self.values["units"], 1, 1), window=((h, 1, 0), (w, 1, 0)))

    def weights_text(self, shape, weights):
        c, h, w = shape
        inputs = f"{h}*{w}*{c}" if (h, w) != (1, 1) else f"{c}"
        return f"{inputs}*{self.values['units']} = {weights:,}"

    def explain(self, info):
        return _explain(info)

    def torch_module(self, info, code):
        code.use(_LINEAR)
        c, h, w = info.in_shape
        bias = "" if self.values["bias"] else ", bias=False"
        return f"Linear({c * h * w}, {self.values['units']}{bias})"

    def onnx_nodes(self, info, graph, x, out):
        flat = graph.node("Flatten", [x], f"{out}/flatten", axis=1)
        inputs = [flat, graph.weight(self, "weight")]
        if self.values["bias"]:
            inputs.append(graph.weight(self, "bias"))
        gemm = graph.node("Gemm", inputs, f"{out}/gemm", name=out, transB=1)
        return to_vector(graph, gemm, out)

    def param_shapes(self, shape):
        shapes = {"weight": (self.values["units"], prod(shape))}
        if self.values["bias"]:
            shapes["bias"] = (self.values["units"],)
        return shapes

    def weight_count(self, shape):
        return self.values["units"] * prod(shape)

    def macs(self, shape, out):
        return self.weight_count(shape)

    def forward(self, x, params, ctx):
        return ops.fc_forward(x, params["weight"], params.get("bias"))

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.fc_backward(dout, cache)
        return dx, weight_grads(dw, db)

    def forward_bytes(self, in_shape, out_shape, batch, training):
        """The output; the input is read flattened as a view."""
        return Footprint(tensor_bytes(out_shape, batch))

    def op_counts(self, shape, out):
        """Beside the MACs (one per weight): the bias, 1 addition per unit when the layer
        has one."""
        return op_dict(adds=prod(out) if self.values["bias"] else 0)



# ---------------------------------------------------------------- explanation
def _explain(info) -> list[Section]:
    c, h, w = info.in_shape
    d = c * h * w
    units = info.out[0]
    bias = units if info.layer.get("bias") else 0
    flat = (f"The {vol(info.in_shape)} input is first flattened C-major into a vector "
            f"of {c}·{h}·{w} = {n(d)} values. " if (h, w) != (1, 1) else "")
    sections = [
        Section("Output", f"{flat}Each of the {n(units)} units is the dot product of the "
                f"whole input vector with its own row of weights (plus a bias): output "
                f"1×1×{units}."),
        Section("Parameters", f"Weights: inputs × units = {n(d)} × {n(units)} = "
                f"{n(info.weights)}" + (f", plus {n(units)} biases = {n(info.params)} "
                                        "parameters." if bias else
                                        f", no biases = {n(info.params)} parameters.")),
        Section("Multiply–accumulates", f"One MAC per weight: {n(info.macs)} MACs per image. "
                "Compared with a conv, an fc has few MACs for its many weights: every weight "
                "is used once."),
        Section("As a convolution", f"This fc is exactly a conv of {n(units)} filters of "
                f"{h}×{w}×{c} with no padding, which fits the input once: the weight matrix "
                f"({units}, {d}) read C-major is the conv weight ({units}, {c}, {h}, {w}). "
                "Converted so, the network can slide over a larger image (FC→CONV)."),
        Section("Backward pass", f"dx = Wᵀ · dout: ({d}×{units})·({units}×1) = {d}×1, "
                f"reshaped to {vol(info.in_shape)}. dW = dout · xᵀ: ({units}×1)·"
                f"(1×{d}) = {units}×{d}, summed over the batch" + (
                    "; db = dout." if bias else ".")),
    ]
    return sections
