"""POOL: max, average or L2 over each F×F window."""

from __future__ import annotations

from .. import geometry as geo
from .. import ops
from ..fields import Field, choice, flag, pair, size
from .base import Diagnostic, Layer, Shaped, register
from .sizes import _kernel_error, _size_diagnostics


@register
class Pool(Layer):
    TYPE, CATEGORY, TITLE = "pool", "POOL", "Pooling"
    ORDER = 10  # place in its palette group
    SUMMARY = ("POOL: downsamples each channel on its own: the max, mean or L2 norm of every "
               "F×F window. Depth is kept; no parameters.")
    FIELDS = (
        choice("mode", "max", ("max", "avg", "l2"), "what a window reduces to", always=True),
        size("kernel", 2, "F: the window's height and width", always=True),
        Field("stride", "size", None, "S: the step between windows (default: the kernel)"),
        size("padding", 0, "P: padding around the input (−∞ for max, 0 for avg/l2)", minimum=0),
        flag("ceil_mode", False, "round the output size up, as PyTorch's ceil_mode"),
        flag("count_include_pad", True, "avg only: count padding in the divisor"),
    )

    def set(self, key, value):
        if key == "stride" and value is None:
            self.values["stride"] = None
            return
        super().set(key, value)

    def stride_pair(self):
        stride = self.values["stride"]
        return self.pair("kernel") if stride is None else pair(stride)

    def geometry(self):
        return tuple((k, s, p, 1) for k, s, p in zip(self.pair("kernel"), self.stride_pair(),
                                                      self.pair("padding")))

    def describe(self):
        kh, kw = self.pair("kernel")
        sh, sw = self.stride_pair()
        text = f"{self.values['mode']} {kh}×{kw} /{sh}"
        ph, pw = self.pair("padding")
        if ph or pw:
            text += f" p{ph}"
        if self.values["ceil_mode"]:
            text += " ceil"
        return text

    def shaped(self, shape):
        c, h, w = shape
        results = [geo.axis_output(n, k, p, s, self.values["ceil_mode"])
                   for n, (k, s, p, _) in zip((h, w), self.geometry())]
        window = tuple((r.kernel, r.stride, r.padding) for r in results)
        for axis, r in zip(geo.AXES, results):
            if 2 * r.padding > r.kernel:
                return Shaped(None, [Diagnostic(
                    "error", f"{axis}: padding {r.padding} is more than half the kernel "
                    f"{r.kernel}; a window could see only padding (PyTorch refuses it)",
                    axis=axis)], window)
        error = _kernel_error(results)
        if error:
            return Shaped(None, [error], window)
        diagnostics = [] if self.values["ceil_mode"] else _size_diagnostics(
            self, results, ("padding", "stride"))
        if self.values["ceil_mode"]:
            for axis, r in zip(geo.AXES, results):
                if not r.whole:
                    diagnostics.append(Diagnostic(
                        "info", f"{axis}: {r.formula()}, rounded up to {r.out} (ceil mode)"))
        return Shaped((c, results[0].out, results[1].out), diagnostics, window)

    def forward(self, x, params, ctx):
        out_hw = ctx.out_shape(self)[1:]
        return ops.pool_forward(x, self.values["mode"], self.pair("kernel"), self.stride_pair(),
                                self.pair("padding"), out_hw, self.values["count_include_pad"])

    def backward(self, dout, cache, ctx):
        return ops.pool_backward(dout, cache), {}

    def to_dict(self):
        out = super().to_dict()
        if self.values["stride"] is None:
            out.pop("stride", None)
        return out
