"""The per-layer figures as text: the notes' VGGNet table, JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json

from .analysis import LayerInfo, Report
from .layers import OPS, fmt_shape

FORMATS = ("table", "json", "csv", "markdown")


def render(report: Report, fmt: str) -> str:
    return {"table": table, "json": as_json, "csv": as_csv, "markdown": markdown}[fmt](report)


def short(n: int, digits: int = 2) -> str:
    """The notes' rounding: 150K, 3.2M, 800K (two significant figures); small ones exact."""
    if n < 10_000:
        return str(n)
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            value = float(f"{n / size:.{digits}g}")
            return f"{value:g}{unit}"
    return str(n)


# How the compact ops text names each count (layers.OPS): "560K cmp · 290K add".
OP_ABBREVIATIONS = {"compares": "cmp", "adds": "add", "muls": "mul", "divs": "div",
                    "exps": "exp", "sqrts": "sqrt"}
OP_WORDS = {"compares": "comparisons", "adds": "additions", "muls": "multiplications",
            "divs": "divisions", "exps": "exponentials (exp, log, erf)",
            "sqrts": "square roots"}


def ops_text(ops: dict) -> str:
    """The work beside the MACs in a few characters, the notes' rounding:
    ``560K cmp · 290K add``; "" when there is none."""
    return " · ".join(f"{short(ops[key])} {OP_ABBREVIATIONS[key]}" for key in OPS if ops[key])


def ops_lines(ops: dict) -> list[str]:
    """Every count in full words, one a line: ``559,872 comparisons``."""
    return [f"{ops[key]:,} {OP_WORDS[key]}" for key in OPS if ops[key]]


def label(info: LayerInfo) -> str:
    """The notes' row label: CONV3-64, POOL2, FC, RELU ..."""
    return info.layer.table_label()


def weights_expr(info: LayerInfo) -> str:
    """How the notes write a layer's weights: (3*3*64)*128 = 73,728."""
    if info.weights == 0 or info.in_shape is None:
        return "0"
    return info.layer.weights_text(info.in_shape, info.weights)


def memory_expr(shape) -> str:
    c, h, w = shape
    n = c * h * w
    if (h, w) == (1, 1):
        return str(n)
    return f"{h}*{w}*{c}={short(n)}"


def table(report: Report) -> str:
    rows = [("INPUT", "", f"[{fmt_shape(report.input_shape)}]",
             memory_expr(report.input_shape), "0", "", "")]
    for info in report.layers:
        indent = "  " * info.depth
        if info.out is None:
            rows.append((indent + label(info), info.name, "[not computed]", "—", "—", "",
                         _flag(info)))
            continue
        memory = "in place" if info.layer.IN_PLACE else memory_expr(info.out)
        extra = f"MACs: {info.macs:,}" if info.macs else ""
        ops = ops_text(info.ops)
        extra += f"  ops: {ops}" if ops else ""
        rf = f"RF: {info.receptive_field[0]}x{info.receptive_field[1]}"
        rows.append((indent + label(info), info.name, f"[{fmt_shape(info.out)}]", memory,
                     weights_expr(info), f"{extra}  {rf}".strip(), _flag(info)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{report.name} — input {fmt_shape(report.input_shape)}"]
    for r in rows:
        line = (f"{(r[0] + ':').ljust(widths[0] + 1)} {r[1].ljust(widths[1])} "
                f"{r[2].ljust(widths[2])} memory: {r[3].ljust(widths[3])} weights: {r[4]}")
        if r[5]:
            line += f"  {r[5]}"
        if r[6]:
            line += f"  {r[6]}"
        lines.append(line.rstrip())
    lines += [*totals_lines(report), ops_total_line(report)]
    for d in report.diagnostics:
        if d.severity != "info":
            lines.append(f"{d.severity.upper()} {d.path} '{d.layer}': {d.message}")
    return "\n".join(lines) + "\n"


def _flag(info: LayerInfo) -> str:
    if info.status == "blocked":
        return f"(not computed: follows the error at {info.blocked_by})"
    return {"warning": "WARNING", "error": "ERROR"}.get(info.status, "")


def totals_lines(report: Report) -> list[str]:
    t = report.totals()
    mb = t["forward_bytes"] / 1e6
    lines = [
        f"TOTAL memory: {t['activations']:,} values * 4 bytes = {mb:.2f} MB / image "
        f"(forward only; backward keeps them and adds as many gradients: ~{2 * mb:.0f} MB)",
        f"TOTAL params: {t['params']:,} ({short(t['params'], 3)}; weights alone {t['weights']:,})",
        f"TOTAL MACs: {t['macs']:,} ({short(t['macs'], 3)} multiply-adds / image)",
    ]
    if t["activations"] == 15_237_608 and t["params"] == 138_357_544:
        lines.append(
            "Note: the notes print \"TOTAL memory: 24M * 4 bytes ~= 93MB\", but their own rows "
            "add up to 15,237,608 values = 60.95 MB (15.2M, not 24M).")
    return lines


def ops_total_line(report: Report) -> str:
    """The work beside the MACs, summed: comparisons, additions, ... (not in the MACs)."""
    return f"TOTAL other ops: {ops_text(report.op_totals()) or '0'} / image (beside the MACs)"


def as_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=1) + "\n"


CSV_COLUMNS = ("name", "type", "path", "output", "activations", "weights", "params", "macs",
               "receptive_field", "jump", "status", "diagnostics", *OPS)


def _row(info: LayerInfo) -> list:
    rf = f"{info.receptive_field[0]}x{info.receptive_field[1]}" if info.receptive_field else ""
    jump = f"{info.jump[0]}x{info.jump[1]}" if info.jump else ""
    return [info.name, info.type, info.path, fmt_shape(info.out) if info.out else "",
            info.activations, info.weights, info.params, info.macs, rf, jump, info.status,
            " | ".join(d.message for d in info.diagnostics), *(info.ops[key] for key in OPS)]


def as_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow(["input", "input", "", fmt_shape(report.input_shape),
                     report.input_shape[0] * report.input_shape[1] * report.input_shape[2],
                     0, 0, 0, "1x1", "1x1", "ok", "", *(0 for _ in OPS)])
    for info in report.layers:
        writer.writerow(_row(info))
    t = report.totals()
    ops = report.op_totals()
    writer.writerow(["TOTAL", "", "", "", t["activations"], t["weights"], t["params"], t["macs"],
                     "", "", "error" if report.has_error else "ok", "", *(ops[key] for key in OPS)])
    return buf.getvalue()


def markdown(report: Report) -> str:
    lines = [f"# {report.name}", "", f"Input: {fmt_shape(report.input_shape)}", "",
             "| layer | type | output | memory | weights | params | MACs | other ops | RF "
             "| status |",
             "|---|---|---|---:|---:|---:|---:|---|---|---|"]
    for info in report.layers:
        r = _row(info)
        name = "&nbsp;&nbsp;" * info.depth + r[0]
        lines.append(f"| {name} | {r[1]} | {r[3] or '—'} | {r[4]:,} | {r[5]:,} | {r[6]:,} | "
                     f"{r[7]:,} | {ops_text(info.ops)} | {r[8]} | {r[10]} |")
    t = report.totals()
    lines.append(f"| **total** | | | {t['activations']:,} | {t['weights']:,} | "
                 f"{t['params']:,} | {t['macs']:,} | {ops_text(report.op_totals())} | | |")
    lines += ["", *[f"- {line}" for line in (*totals_lines(report), ops_total_line(report))]]
    diags = [d for d in report.diagnostics if d.severity != "info"]
    if diags:
        lines += ["", "## Diagnostics", ""]
        lines += [f"- **{d.severity}** `{d.path}` {d.layer}: {d.message}" for d in diags]
    return "\n".join(lines) + "\n"
