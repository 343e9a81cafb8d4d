"""The architecture drawn to scale, as papers draw it: one box per layer, as SVG text.

Each layer's output is a cuboid: its face is as tall as the map's height, it recedes by the
map's width and it is as thick as the map has channels (square-root scales, so VGG's 224
and its 4096 both fit). Labels give the layer and its size in the notes' H×W×C. A
``residual`` or ``concat`` block is drawn as its branches stacked, forking from the block's
input and meeting at a ⊕ (addition) or a bar (concatenation). Every layer is one
``<g class="layer">`` holding a ``<text class="shape">``, so the file can be read back.

Plain text only: no NumPy, no Qt (gui/diagram_png.py renders this SVG to a PNG).
"""

from __future__ import annotations

from math import sqrt
from xml.sax.saxutils import escape, quoteattr

from ..fileio import atomic_write_bytes
from ..layers import fmt_shape

FONT = 9  # px
CHAR = 0.58 * FONT  # average advance of one character
GAP = 7  # between columns
ROW_GAP = 16  # between the branches of a block
MARGIN = 16
COLOURS = {"CONV": "#4a8fd9", "POOL": "#e5a33d", "activation": "#8cbf4f", "NORM": "#b08fd1",
           "FC": "#d9534f", "input": "#9aa5b1"}


def export(net, out_path) -> None:
    """Write the diagram of ``net`` as an SVG file, atomically."""
    atomic_write_bytes(out_path, to_svg(net).encode("utf-8"))


def face_height(n: int) -> float:
    """Pixels for a spatial size n (height, or width before foreshortening): √ scale."""
    return 4 + 8 * sqrt(n)


def thickness(c: int) -> float:
    """Pixels for a channel count: √ scale, capped so a flattened vector stays on the page."""
    return min(2 + 1.5 * sqrt(c), 120)


def to_svg(net) -> str:
    """The diagram as SVG text (always well-formed XML)."""
    report = net.analyze(fixes=False)
    items = [_Cuboid(None, net.input.shape, "input", "input")]
    items += [_item(info) for info in report.top]
    chain = _Row(items)
    title = _title(net, report)
    width = max(chain.width, len(title[0]) * CHAR * 1.4, len(title[1]) * CHAR) + 2 * MARGIN
    top = MARGIN + 2.2 * FONT * 2
    height = top + chain.above + chain.below + MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" '
        f'font-size="{FONT}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + FONT * 1.4:.1f}" font-size="{FONT * 1.6:.0f}" '
        f'font-weight="bold">{escape(title[0])}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + FONT * 3.4:.1f}" fill="#555">{escape(title[1])}</text>',
    ]
    parts += chain.draw(MARGIN, top + chain.above)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _title(net, report):
    totals = report.totals()
    legend = (f"input {fmt_shape(net.input.shape)} · {totals['params']:,} params · "
              f"{totals['macs']:,} MACs per image · box height ∝ √H, depth ∝ √W, "
              "thickness ∝ √C")
    return net.name, legend


def _item(info):
    if info.branches:
        return _Block(info, [_Row([_item(i) for i in branch]) for branch in info.branches])
    label = info.name
    described = info.layer.describe()
    if described and not info.layer.THIN:
        label += f" · {described}"
    return _Cuboid(info, info.out, label, info.layer.CATEGORY)


def _text_length(text: str) -> float:
    return len(text) * CHAR + 4


class _Cuboid:
    """One layer's output map (or the input) as a box, with its labels above and below."""

    def __init__(self, info, shape, label, category):
        self.info, self.label, self.category = info, label, category
        self.shape = shape
        self.shape_text = fmt_shape(shape) if shape else "error"
        if shape is None:  # a layer that cannot be computed: a small red box
            c, h, w = 1, 4, 4
        else:
            c, h, w = shape
        thin = info is not None and info.layer.THIN
        self.t = 3.0 if thin else thickness(c)
        self.h = face_height(h)
        self.d = 0.32 * face_height(w)  # the receding side, drawn at 45°
        self.width = max(self.t + self.d, FONT + 2) + GAP
        self.above = self.h / 2 + self.d + _text_length(self.shape_text)
        self.below = self.h / 2 + _text_length(self.label)

    def draw(self, x, yc):
        t, h, d = self.t, self.h, self.d
        top, bottom = yc - h / 2, yc + h / 2
        fill = "#e74c3c" if self.shape is None else COLOURS.get(self.category, "#999")
        out = []
        if self.info is None:
            out.append('<g class="input">')
        else:
            tip = f"{self.info.name} ({self.info.type}) {self.shape_text}"
            out.append(f'<g class="layer" data-name={quoteattr(self.info.name)} '
                       f'data-type="{self.info.type}" data-path={quoteattr(self.info.path)}>'
                       f"<title>{escape(tip)}</title>")
        out.append(f'<polygon points="{x:.1f},{top:.1f} {x + d:.1f},{top - d:.1f} '
                   f'{x + t + d:.1f},{top - d:.1f} {x + t:.1f},{top:.1f}" fill="{fill}" '
                   'fill-opacity="0.55" stroke="#333" stroke-width="0.5"/>')
        out.append(f'<polygon points="{x + t:.1f},{top:.1f} {x + t + d:.1f},{top - d:.1f} '
                   f'{x + t + d:.1f},{bottom - d:.1f} {x + t:.1f},{bottom:.1f}" fill="{fill}" '
                   'fill-opacity="0.35" stroke="#333" stroke-width="0.5"/>')
        out.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{t:.1f}" height="{h:.1f}" '
                   f'fill="{fill}" stroke="#333" stroke-width="0.5"/>')
        cx = x + (t + d) / 2 + FONT / 3
        out.append(_vertical_text(cx, top - d - 3, self.shape_text, "shape", "start"))
        out.append(_vertical_text(cx, bottom + 3, self.label, "label", "end"))
        out.append("</g>")
        return out


def _vertical_text(x, y, text, cls, anchor):
    """Text read bottom to top; anchor "start" runs up from y, "end" hangs down from y."""
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
            f'transform="rotate(-90 {x:.1f} {y:.1f})">{escape(text)}</text>')


class _Row:
    """Items side by side on one centre line, joined by a line."""

    def __init__(self, items):
        self.items = items
        self.width = sum(i.width for i in items)
        self.above = max((i.above for i in items), default=FONT)
        self.below = max((i.below for i in items), default=FONT)

    def draw(self, x, yc):
        out = []
        if self.items:
            out.append(f'<line x1="{x:.1f}" y1="{yc:.1f}" x2="{x + self.width - GAP:.1f}" '
                       f'y2="{yc:.1f}" stroke="#888" stroke-width="1"/>')
        for item in self.items:
            out += item.draw(x, yc)
            x += item.width
        return out


class _Block:
    """A residual or concat: its branches stacked, a fork on the left, a join on the right."""

    FORK = 14  # room for the fork lines on the left
    JOIN = 30  # room for the join mark on the right

    def __init__(self, info, rows):
        self.info, self.rows = info, rows
        for row in rows:
            if not row.items:  # an identity branch: a bare line
                row.above = row.below = FONT
        self.shape_text = fmt_shape(info.out) if info.out else "error"
        self.label = f"{info.name} · {info.type}"
        inner = max((r.width for r in rows), default=0)
        self.width = self.FORK + max(inner, 30) + self.JOIN + GAP
        first = rows[0] if rows else _Row([])
        rest = sum(r.above + r.below + ROW_GAP for r in rows[1:])
        self.above = max(first.above, 10 + _text_length(self.shape_text))
        self.below = max(first.below + rest, 10 + _text_length(self.label))

    def draw(self, x, yc):
        info = self.info
        out = [f'<g class="layer block" data-name={quoteattr(info.name)} '
               f'data-type="{info.type}" data-path={quoteattr(info.path)}>'
               f"<title>{escape(self.label)} {escape(self.shape_text)}</title>"]
        fork_x, join_x = x + 4, x + self.width - GAP - self.JOIN / 2
        start = x + self.FORK
        y = yc
        for n, row in enumerate(self.rows):
            if n:
                y += self.rows[n - 1].below + ROW_GAP + row.above
            end = start + row.width - GAP if row.items else join_x - 8
            out.append(f'<path d="M{fork_x:.1f},{yc:.1f} V{y:.1f} H{start:.1f} M{end:.1f},'
                       f'{y:.1f} H{join_x:.1f} V{yc:.1f}" fill="none" stroke="#888"/>')
            if row.items:
                out += row.draw(start, y)
            else:
                out.append(f'<text x="{start:.1f}" y="{y - 3:.1f}" fill="#777">identity</text>')
        if info.type == "residual":
            out.append(f'<circle cx="{join_x:.1f}" cy="{yc:.1f}" r="7" fill="white" '
                       'stroke="#333"/>')
            out.append(f'<path d="M{join_x - 4:.1f},{yc:.1f} H{join_x + 4:.1f} '
                       f'M{join_x:.1f},{yc - 4:.1f} V{yc + 4:.1f}" stroke="#333"/>')
        else:
            out.append(f'<rect x="{join_x - 3:.1f}" y="{yc - 9:.1f}" width="6" height="18" '
                       'fill="#555"/>')
        # beside the join, clear of the lines that come down into it
        out.append(_vertical_text(join_x + 11, yc - 9, self.shape_text, "shape", "start"))
        out.append(_vertical_text(join_x + 11, yc + 9, self.label, "label", "end"))
        out.append("</g>")
        return out
