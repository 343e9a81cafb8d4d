"""CONV: 2-D cross-correlation, as torch.nn.Conv2d."""

from __future__ import annotations

from math import prod

from .. import geometry as geo
from .. import ops
from ..fields import Field, count, flag, pair, size
from .base import Diagnostic, Layer, Shaped, register
from .sizes import _kernel_error, _size_diagnostics


@register
class Conv(Layer):
    TYPE, CATEGORY, TITLE = "conv", "CONV", "Convolution"
    ORDER = 10  # place in its palette group
    SUMMARY = ("CONV: slides `filters` kernels of F×F×C over the input; each output pixel is "
               "the dot product of a kernel with the window under it. Output size "
               "(W − F + 2P)/S + 1.")
    FIELDS = (
        count("filters", 64, "how many kernels: the output depth", required=True),
        size("kernel", 3, "F: the kernel's height and width", always=True),
        size("stride", 1, "S: the step between windows"),
        Field("padding", "padding", 0, "P: zeros around the input; \"same\" keeps the size",
              minimum=0),
        size("dilation", 1, "D: the gap between kernel taps; widens the window to D·(F−1)+1"),
        count("groups", 1, "split channels into groups that do not see each other"),
        flag("bias", True, "add one learned number per filter"),
    )

    def pair_padding(self) -> tuple[int, int]:
        padding = self.values["padding"]
        if padding == "same":
            (kh, kw), (dh, dw) = self.pair("kernel"), self.pair("dilation")
            return dh * (kh - 1) // 2, dw * (kw - 1) // 2
        return pair(padding)

    def geometry(self):
        """Per axis: (kernel, stride, padding, dilation)."""
        return tuple(zip(self.pair("kernel"), self.pair("stride"), self.pair_padding(),
                         self.pair("dilation")))

    def describe(self):
        kh, kw = self.pair("kernel")
        text = f"{self.values['filters']} {kh}×{kw}"
        sh, sw = self.pair("stride")
        if (sh, sw) != (1, 1):
            text += f" /{sh}" if sh == sw else f" /{sh}×{sw}"
        if self.values["padding"] == "same":
            text += " same"
        elif self.pair_padding() != (0, 0):
            ph, pw = self.pair_padding()
            text += f" p{ph}" if ph == pw else f" p{ph}×{pw}"
        dh, dw = self.pair("dilation")
        if (dh, dw) != (1, 1):
            text += f" d{dh}"
        if self.values["groups"] != 1:
            text += f" g{self.values['groups']}"
        return text

    def shaped(self, shape):
        c, h, w = shape
        f, g = self.values["filters"], self.values["groups"]
        if self.values["padding"] == "same":
            for (k, _, _, d), axis in zip(self.geometry(), geo.AXES):
                if d * (k - 1) % 2:
                    return Shaped(None, [Diagnostic(
                        "error", f"padding \"same\" needs D·(F−1)/2 whole, but on the {axis} "
                        f"{d}·({k}−1)/2 = {d * (k - 1) / 2:g}; use an odd kernel", axis=axis)])
        if c % g or f % g:
            which = f"input channels {c}" if c % g else f"filters {f}"
            return Shaped(None, [Diagnostic(
                "error", f"{which} are not divisible by groups {g}")])
        results = [geo.axis_output(n, geo.effective_kernel(k, d), p, s)
                   for n, (k, s, p, d) in zip((h, w), self.geometry())]
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window)
        return Shaped((f, results[0].out, results[1].out), _size_diagnostics(self, results),
                      window)

    def param_shapes(self, shape):
        kh, kw = self.pair("kernel")
        f, g = self.values["filters"], self.values["groups"]
        shapes = {"weight": (f, shape[0] // g, kh, kw)}
        if self.values["bias"]:
            shapes["bias"] = (f,)
        return shapes

    def weight_count(self, shape):
        return prod(self.param_shapes(shape)["weight"])

    def macs(self, shape, out):
        return self.weight_count(shape) * out[1] * out[2]

    def extra(self, shape, out):
        c, h, w = shape
        kh, kw = self.pair("kernel")
        return {"im2col": ops.im2col_shapes(
            c, h, w, self.values["filters"], kh, kw, self.pair("stride"), self.pair_padding(),
            self.pair("dilation"), self.values["groups"])}

    def forward(self, x, params, ctx):
        return ops.conv_forward(x, params["weight"], params.get("bias"), self.pair("stride"),
                                self.pair_padding(), self.pair("dilation"),
                                self.values["groups"])

    def backward(self, dout, cache, ctx):
        dx, dw, db = ops.conv_backward(dout, cache)
        grads = {"weight": dw}
        if db is not None:
            grads["bias"] = db
        return dx, grads
