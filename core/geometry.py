"""Output-size arithmetic of the notes, (W − F + 2P)/S + 1, one axis at a time.

Everything here is plain integer arithmetic on shapes: no arrays are touched, so the
whole network's shapes take microseconds and can be recomputed on every edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

AXES = ("height", "width")


@dataclass(frozen=True)
class AxisResult:
    """The size rule worked out on one axis."""

    size: int  # input size W
    kernel: int  # effective kernel F' = D·(F−1)+1
    padding: int
    stride: int
    out: int  # what the layer keeps (floor, or ceil in ceil mode)
    ceil_mode: bool = False

    @property
    def exact(self) -> Fraction:
        """(W − F' + 2P)/S + 1 before rounding. Made when asked: a Fraction costs more
        than the rest of the rule, which runs for every layer on every analysis."""
        return Fraction(self.size + 2 * self.padding - self.kernel, self.stride) + 1

    @property
    def whole(self) -> bool:
        return (self.size + 2 * self.padding - self.kernel) % self.stride == 0

    def formula(self) -> str:
        """The worked arithmetic, e.g. ``(224 − 11 + 2·0)/4 + 1 = 54.25``."""
        value = float(self.exact)
        shown = f"{value:g}" if self.whole else f"{value:.4g}"
        return f"({self.size} − {self.kernel} + 2·{self.padding})/{self.stride} + 1 = {shown}"


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) + 1


def axis_output(size: int, kernel: int, padding: int, stride: int,
                ceil_mode: bool = False) -> AxisResult:
    """Output size on one axis, with PyTorch's rounding rules."""
    span = size + 2 * padding - kernel
    if ceil_mode:
        out = -((-span) // stride) + 1
        # PyTorch: the last window must start inside the input or its left padding.
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = span // stride + 1
    return AxisResult(size, kernel, padding, stride, out, ceil_mode)


def whole_paddings(size: int, kernel: int, padding: int, stride: int, count: int = 2) -> list[int]:
    """Paddings near ``padding`` that make the division whole (none if parity forbids)."""
    found = []
    for p in range(0, padding + 2 * stride + 1):
        if (size - kernel + 2 * p) % stride == 0 and size + 2 * p >= kernel:
            found.append(p)
    found.sort(key=lambda p: (abs(p - padding), p))
    return found[:count]


def whole_strides(size: int, kernel: int, padding: int, stride: int) -> list[int]:
    """Strides next to ``stride`` that divide W − F + 2P (stride 1 always does)."""
    span = size - kernel + 2 * padding
    if span <= 0:
        return []
    near = [s for s in range(1, 2 * stride + 1) if s != stride and span % s == 0]
    near.sort(key=lambda s: (abs(s - stride), s))
    return near[:2]


def describe_fraction(result: AxisResult) -> str:
    kept = "ceil" if result.ceil_mode else "floor"
    return f"{result.formula()} is not whole; the layer keeps {result.out} ({kept})"
