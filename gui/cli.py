"""The ``convscope`` command (spec section 4).

Subcommands that need no window (summary, run, import, export) never load Qt unless they
must (an image file, a PNG diagram). Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from convscope.core import ConvScopeError, Network

SUBCOMMANDS = ("summary", "run", "import", "export")
EXIT_OK, EXIT_NETWORK, EXIT_FILE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line with exit status 2."""

    def error(self, message):
        command = self.prog.removeprefix("convscope").strip()  # "summary" in a subcommand
        raise SystemExit(_fail(f"{command}: {message}" if command else message, EXIT_FILE))


def _fail(message: str, status: int) -> int:
    print(f"convscope: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return _subcommand(argv)
        return _app(argv)
    except ConvScopeError as err:
        return _fail(str(err), EXIT_FILE)
    except KeyboardInterrupt:
        return 130


def _app(argv) -> int:
    parser = _Parser(prog="convscope", description="ConvScope: see how a ConvNet works.",
                     epilog="Subcommands: summary, run, import, export "
                            "(convscope SUBCOMMAND --help).")
    parser.add_argument("file", nargs="?", help="an architecture .json (default: an example)")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the window with FILE to a PNG and exit")
    parser.add_argument("--size", metavar="WxH", type=_window_size, default=(1600, 1000),
                        help="the window's size for --screenshot (default 1600x1000)")
    args = parser.parse_args(argv)
    from convscope.core.presets import DEFAULT_EXAMPLE

    path = args.file or str(DEFAULT_EXAMPLE)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a PNG needs no screen
    from convscope.gui.preflight import window_problem

    problem = window_problem()  # before Qt loads its platform plugin, which would abort
    if problem:
        return _fail(f"cannot open a window: {problem}", EXIT_FILE)
    from convscope.gui import app

    if args.screenshot:
        status = app.screenshot(path, args.screenshot, args.size)
        if status == EXIT_OK:
            _wrote(args.screenshot, f"the window with {Path(path).name}")
        return status
    return app.run(path)


def _window_size(text: str) -> tuple[int, int]:
    """'1280x800' -> (1280, 800), for argparse (its error names the option)."""
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and 320 <= int(width) <= 8000
            and 240 <= int(height) <= 8000):
        raise argparse.ArgumentTypeError(f"'{text}' is not a window size like 1280x800 "
                                         "(320x240 to 8000x8000)")
    return int(width), int(height)


def _subcommand(argv) -> int:
    parser = _Parser(prog="convscope")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("summary", help="per-layer figures and totals")
    p.add_argument("file")
    p.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    p = sub.add_parser("run", help="run the network and save every layer's output")
    p.add_argument("file")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="X.npy")
    source.add_argument("--image", metavar="IMG")
    p.add_argument("--out", required=True, metavar="ACTS.npz")
    p.add_argument("--weights", metavar="W.npz")
    p = sub.add_parser("import", help="an ONNX model to an architecture and its weights")
    p.add_argument("model")
    p.add_argument("out")
    p = sub.add_parser("export", help="to .onnx, .py, .svg, .png, .csv or .md")
    p.add_argument("file")
    p.add_argument("out")
    args = parser.parse_args(argv)
    return {"summary": _summary, "run": _run, "import": _import, "export": _export}[
        args.command](args)


def _summary(args) -> int:
    from convscope.core.summary import render

    net = Network.load(args.file, weights=False)
    report = net.analyze()
    sys.stdout.write(render(report, args.format))
    return _tell_errors(args.file, report)


def _tell_errors(path: str, report) -> int:
    """Each error of the network on stderr, one line naming the file and the place."""
    for d in report.diagnostics:
        if d.severity == "error":
            print(f"convscope: {path}: {d.path} '{d.layer}': {d.message}", file=sys.stderr)
    return EXIT_NETWORK if report.has_error else EXIT_OK


def _wrote(path, what: str) -> None:
    print(f"wrote {path}: {what}, {_size(path)}")


def _size(path) -> str:
    size = os.path.getsize(path)
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def _run(args) -> int:
    import numpy as np
    from convscope.core import fileio

    net = Network.load(args.file, weights=args.weights is None)
    if args.weights:
        net.load_weights(args.weights)
    if args.input:
        x = _read_input_array(args.input, net)
    else:
        from convscope.gui.images import load_image

        x = load_image(args.image, net.input)[None]
    try:
        acts = net.forward(x)
    except ConvScopeError as err:
        return _fail(str(err.located(source=args.file)), EXIT_NETWORK)
    fileio.atomic_write_npz(args.out, {k: np.asarray(v, np.float32) for k, v in acts.items()})
    _wrote(args.out, f"{len(acts) - 1} layers")  # every layer's output, besides the input
    return EXIT_OK


def _read_input_array(path, net):
    import numpy as np
    from convscope.core import fileio

    want = net.input.shape

    def check(shape, dtype):  # from the header, before the data are read
        if dtype.kind not in "fiu":
            raise ConvScopeError("must hold one numeric array")
        if tuple(shape) != want and (len(shape) != 4 or tuple(shape[1:]) != want):
            raise ConvScopeError(f"array has shape {tuple(shape)}; the network takes (N, "
                                 f"{want[0]}, {want[1]}, {want[2]}) or ({want[0]}, {want[1]}, "
                                 f"{want[2]})")

    x = fileio.read_npy(path, check=check, other_kind="a picture goes with --image")
    return (x[None] if x.ndim == 3 else x).astype(np.float32)


def _import(args) -> int:
    from convscope.core.interop import onnx_import

    out = onnx_import.import_file(args.model, args.out)
    net = Network.load(out, weights=False)
    report = net.analyze(fixes=False)
    weights = out.parent / net.weights_file
    print(f"wrote {out}: {len(report.layers)} layers, {report.totals()['params']:,} params; "
          f"weights in {weights} ({_size(weights)})")
    _import_labels(args.model, out, report.output[0] if report.output else 0)
    return EXIT_OK


def _import_labels(model, out: Path, count: int) -> None:
    """Class names in the model's metadata_props go to ``<out stem>.labels.txt`` when there
    is one per output channel; otherwise one line says why they were left out."""
    import onnx
    from convscope.core.labels import labels_path, names_from_metadata, write_labels

    # the importer has let go of its copy; the metadata alone, without external data
    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False)
            .metadata_props}
    names = names_from_metadata(meta)
    if not names:
        return
    if len(names) != count:
        print(f"convscope: {model}: its metadata names {len(names)} classes but the network "
              f"has {count} outputs; no labels file written", file=sys.stderr)
        return
    path = write_labels(labels_path(out), names)
    _wrote(path, f"{len(names)} class names from the model's metadata")


def _export(args) -> int:
    from convscope.core.interop import RUNNABLE_ONLY, export, export_format

    out = Path(args.out)
    fmt = export_format(out)  # an unknown suffix is refused before the network is read
    net = Network.load(args.file)
    report = net.analyze()
    if report.has_error and out.suffix.lower() in RUNNABLE_ONLY:
        return _tell_errors(args.file, report)  # nothing is written
    export(net, out, report)
    _wrote(out, f"{net.name}, {fmt.label}")
    return _tell_errors(args.file, report)


if __name__ == "__main__":
    sys.exit(main())
