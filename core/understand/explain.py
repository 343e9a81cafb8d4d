"""Explain one layer: its arithmetic worked through with its own numbers, as a student would
do it with pencil and paper from the notes.

``explain(net, "conv1")`` returns a list of ``Section(title, text)``: what the layer does, its
output size per axis, parameters, multiply–accumulates, the im2col matrix product, the
receptive field, what a 1×1 conv mixes, what dilation does, each pooling mode, and how the
backward pass works. A block adds its parts' figures: an inception (concat) block each
branch's output, parameters and MACs and what its 1×1 reductions save against the larger conv
straight on the input; a residual block the two sides that are added, what a projection
shortcut costs and why the identity is free. Numbers are plugged in: counts with thousands
separators (``34,944``), shapes with ``×`` and no separators (``96×363``).
"""

from __future__ import annotations

from ..errors import ConvScopeError
from ..layers.text import Section, n, vol

__all__ = ["Section", "as_text", "explain", "n", "vol"]


def explain(net, layer_name: str, report=None) -> list[Section]:
    """The worked arithmetic of layer ``layer_name`` of ``net``, for one image.

    ``report`` (``net.analyze()``) may be passed in to save analysing again.
    Raises ConvScopeError if there is no such layer. Each layer type writes its own
    sections (``Layer.explain``)."""
    report = report or net.analyze()
    try:
        info = report.by_name(layer_name)
    except KeyError:
        raise ConvScopeError(f"no layer named '{layer_name}'", "explain") from None
    head = Section(f"{info.name}: {info.layer.TITLE or info.type}",
                   info.layer.SUMMARY + _settings(info))
    if info.out is None:
        return [head, _cannot(info)]
    return [head] + info.layer.explain(info)


def as_text(sections) -> str:
    """The sections as one plain text, titles underlined."""
    return "\n\n".join(f"{s.title}\n{'-' * len(s.title)}\n{s.text}" for s in sections)


def _settings(info) -> str:
    text = info.layer.describe()
    return f"\nSettings: {text}." if text else ""


def _cannot(info) -> Section:
    if info.blocked_by:
        text = f"Its input cannot be computed: an earlier layer has an error ({info.blocked_by})."
    else:
        text = "; ".join(d.message for d in info.diagnostics if d.severity == "error")
    return Section("Shape", f"This layer's output cannot be computed. {text}")
