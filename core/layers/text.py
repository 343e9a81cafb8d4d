"""The words every layer's explanation is written with: numbers, shapes, the size rule and
the receptive field worked out (core.understand.explain puts a layer's sections together)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import fmt_shape

BYTES = 4  # float32


@dataclass
class Section:
    title: str
    text: str

    def to_dict(self) -> dict:
        return {"title": self.title, "text": self.text}


def n(value) -> str:
    """A count with thousands separators: 34944 → ``34,944``."""
    return f"{value:,}"


def mib(values: int) -> str:
    size = values * BYTES
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 2**20:.1f} MiB"


def vol(shape) -> str:
    """(C, H, W) as the notes write it, H×W×C."""
    return fmt_shape(shape).replace("x", "×")


def shape_words(shape) -> str:
    c, h, w = shape
    return f"{vol(shape)} ({n(c * h * w)} values, {mib(c * h * w)})"


def axes_lines(axes) -> list[str]:
    """The worked output-size formula per axis (``Shaped.axes``), merged when height and
    width agree."""
    if axes[0] == axes[1]:
        return [f"Height and width: {_formula(axes[0])}"]
    return [f"Height: {_formula(axes[0])}", f"Width: {_formula(axes[1])}"]


def _formula(r) -> str:
    text = r.formula()
    if not r.whole:
        kept = "rounded up" if r.ceil_mode else "rounded down"
        text += f", not whole: {kept} to {r.out}"
    return text


def receptive(info) -> Section:
    (rf_h, rf_w), (j_h, j_w) = info.receptive_field, info.jump
    lines = []
    if info.window:
        (kh, sh, _), (kw, sw, _) = info.window
        before_jh, before_jw = j_h // sh, j_w // sw
        before_h, before_w = rf_h - (kh - 1) * before_jh, rf_w - (kw - 1) * before_jw
        if (kh, sh, before_jh, before_h) == (kw, sw, before_jw, before_w):
            lines.append(f"Each output value sees the {kh}×{kw} window under it on this "
                         f"layer's input. On the image: rf = rf before + (F' − 1)·jump "
                         f"before = {before_h} + {kh - 1}·{before_jh} = {rf_h}, so "
                         f"{rf_h}×{rf_w} input pixels.")
            lines.append(f"Jump (image pixels between neighbouring outputs) = jump before · "
                         f"stride = {before_jh}·{sh} = {j_h}.")
        else:
            lines.append(f"Height: rf = {before_h} + {kh - 1}·{before_jh} = {rf_h}, jump "
                         f"{before_jh}·{sh} = {j_h}. Width: rf = {before_w} + {kw - 1}·"
                         f"{before_jw} = {rf_w}, jump {before_jw}·{sw} = {j_w}.")
    else:
        lines.append(f"Receptive field {rf_h}×{rf_w} input pixels, jump {j_h}×{j_w}.")
    return Section("Receptive field", " ".join(lines))


def flat(infos):
    """Every layer info of a sequence, blocks' insides included, in reading order."""
    for i in infos:
        yield i
        for b in i.branches:
            yield from flat(b)


def cost(infos) -> tuple[int, int]:
    """(params, MACs) of a sequence, blocks' insides included."""
    infos = list(flat(infos))
    return sum(i.params for i in infos), sum(i.macs for i in infos)


def steps(infos) -> str:
    """A sequence in a few words, ``conv 96 1×1 → conv 128 3×3 p1``: the layers that shape
    or weigh (element-wise layers without parameters left out), an empty one "identity"."""
    words = []
    for i in infos:
        if i.layer.THIN and not i.params:
            continue
        text = i.layer.describe() if not i.layer.THIN else ""
        words.append(f"{i.type} {text}".strip())
    return " → ".join(words) if words else "identity"


def percent(part, whole) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"
