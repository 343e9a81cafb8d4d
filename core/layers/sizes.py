"""Size diagnostics shared by conv and pool: the worked (W − F + 2P)/S + 1 and its fixes."""

from __future__ import annotations

from .. import geometry as geo
from ..fields import choice, pair
from .base import Diagnostic

# The layers whose size can floor (conv, pool) carry this key: "floor": "intended" says the
# flooring is the design (ResNet's stride-2 convs on even maps), so it is a note, not a warning.
FLOOR_INTENDED = "intended"
FLOOR = choice("floor", "warn", ("warn", FLOOR_INTENDED),
               "\"intended\": the size floors on purpose; show it as a note, not a warning")
FLOOR_RULE = "floor"  # Diagnostic.rule of a size that floors (warned or accepted)


def floor_accepted(layer) -> bool:
    return layer.values.get("floor") == FLOOR_INTENDED


def _size_diagnostics(layer, results, fix_keys=("padding",)) -> list[Diagnostic]:
    """A warning for every axis whose (W − F + 2P)/S + 1 is not whole, with fixes; an
    "info" that keeps the arithmetic instead when the layer says the floor is intended."""
    bad = [(axis, r) for axis, r in zip(geo.AXES, results) if not r.whole]
    if not bad:
        return []
    same = len(bad) == 2 and bad[0][1] == bad[1][1]
    groups = [("height and width", bad[0][1], "")] if same else [(a, r, a) for a, r in bad]
    if floor_accepted(layer):
        return [Diagnostic("info", f"{label}: {geo.describe_fraction(r)}, accepted as intended "
                           f"(floor: intended)", axis=axis, rule=FLOOR_RULE)
                for label, r, axis in groups]
    out = []
    for label, r, axis in groups:
        fixes, words = [], []
        for p in geo.whole_paddings(r.size, r.kernel, r.padding, r.stride):
            fixes.append(_set_fix(layer, "padding", p, axis))
            words.append(f"padding {p}")
        for s in geo.whole_strides(r.size, r.kernel, r.padding, r.stride)[:1]:
            fixes.append(_set_fix(layer, "stride", s, axis))
            words.append(f"stride {s}")
        if not any(k == "padding" for k in fix_keys):
            fixes = [f for f in fixes if f["changes"][0]["key"] != "padding"]
        hint = (f"; make it whole with {' or '.join(words)}" if words else "")
        if "padding" in fix_keys and not geo.whole_paddings(r.size, r.kernel, r.padding, r.stride):
            hint += f" (no padding can: {r.size} − {r.kernel} is odd and the stride even)"
        out.append(Diagnostic("warning", f"{label}: {geo.describe_fraction(r)}{hint}",
                              fixes, axis=axis, rule=FLOOR_RULE))
    return out


def _set_fix(layer, key, value, axis):
    """A fix that sets one key, on one axis only if the key is already per-axis."""
    current = layer.values[key]
    if axis and (isinstance(current, list) or current == "same"):
        h, w = pair(current) if current != "same" else layer.pair_padding()
        value = [value, w] if axis == "height" else [h, value]
    shown = value if not isinstance(value, list) else f"[{value[0]}, {value[1]}]"
    return {"label": f"set {key} to {shown}",
            "changes": [{"path": "", "key": key, "value": value}]}


def _kernel_error(results) -> Diagnostic | None:
    for axis, r in zip(geo.AXES, results):
        if r.size + 2 * r.padding < r.kernel or r.out <= 0:
            return Diagnostic(
                "error",
                f"{axis}: kernel {r.kernel} is larger than the padded input "
                f"{r.size} + 2·{r.padding} = {r.size + 2 * r.padding} ({r.formula()})",
                axis=axis)
    return None
