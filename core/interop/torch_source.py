"""A network as plain PyTorch source: an ``nn.Module`` a person can read and train at scale.

The generated file needs only torch (and NumPy to read the weights). Each layer is one
attribute named after the layer; a ``residual`` or ``concat`` block is a ``Residual`` or
``Concat`` submodule holding its branches as ``nn.Sequential``s, so the tree is the one
ConvScope shows. ``load_convscope_weights(model, npz)`` reads ConvScope's weights file
(keys ``<layer>.<param>``) into the model, checking every key and shape.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from ..errors import ConvScopeError
from ..fileio import atomic_write_bytes, atomic_write_npz
from ..layers import fmt_shape

# nn.Module's own attributes: a layer named like one gets another identifier
_MODULE_ATTRIBUTES = frozenset([
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children",
    "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward",
    "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu",
    "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad",
])

_HELPERS = {
    "Flatten": '''
class Flatten(nn.Module):
    """C×H×W → (C·H·W)×1×1, channel-major: ConvScope keeps a vector as C×1×1."""

    def forward(self, x):
        return x.flatten(1)[:, :, None, None]
''',
    "Linear": '''
class Linear(nn.Linear):
    """Fully connected on the flattened input; the output is (N, units, 1, 1)."""

    def forward(self, x):
        return super().forward(x.flatten(1))[:, :, None, None]
''',
    "L2Pool2d": '''
class L2Pool2d(nn.Module):
    """sqrt(Σx²) over each window, zero padding, as ConvScope's l2 pool (PyTorch's
    LPPool2d has no padding)."""

    def __init__(self, kernel_size, stride, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.ceil_mode = padding, ceil_mode

    def forward(self, x):
        # a window sum: avg_pool2d with divisor 1 (PyTorch's own size rules, padding 0)
        sums = nn.functional.avg_pool2d(x * x, self.kernel_size, self.stride, self.padding,
                                        self.ceil_mode, True, divisor_override=1)
        return sums.sqrt()
''',
    "Residual": '''
class Residual(nn.Module):
    """ResNet's block: body(x) + shortcut(x); an empty shortcut is the identity."""

    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)
''',
    "Concat": '''
class Concat(nn.Module):
    """Inception's block: every branch sees x; their outputs are stacked along channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)
''',
}

_LOADER = '''
def load_convscope_weights(model, npz_path):
    """Load ConvScope's weights file (keys "<layer>.<param>") into ``model``.

    Every key must name a parameter or buffer of the model and have its shape, and every
    parameter must be given; otherwise nothing is loaded."""
    state = model.state_dict()
    given = set()
    with np.load(npz_path, allow_pickle=False) as arrays:
        for key in arrays.files:
            layer, param = key.rsplit(".", 1)
            target = f"{MODULES.get(layer, layer)}.{param}"
            if target not in state:
                raise KeyError(f"{npz_path}: {key!r} is not a weight of this model")
            value = torch.from_numpy(np.asarray(arrays[key], dtype=np.float32))
            if value.shape != state[target].shape:
                raise ValueError(f"{npz_path}: {key!r} has shape {tuple(value.shape)}, the "
                                 f"model needs {tuple(state[target].shape)}")
            state[target] = value
            given.add(target)
    missing = [k for k in state if k not in given and not k.endswith("num_batches_tracked")]
    if missing:
        path, param = missing[0].rsplit(".", 1)
        layer = {v: k for k, v in MODULES.items()}.get(path, path)
        raise KeyError(f"{npz_path}: no weights for '{layer}.{param}' ({missing[0]})")
    model.load_state_dict(state)
    return model
'''


def export(net, out_path, with_weights: bool = False) -> None:
    """Write the PyTorch source for ``net`` (and, if asked, its weights ``.npz`` beside it)."""
    out = Path(out_path)
    weights_name = out.stem + ".npz" if with_weights else (net.weights_file or None)
    text = to_source(net, weights_name)
    if with_weights:
        net.ensure_weights()
        atomic_write_npz(out.parent / weights_name, net.state_dict())
    atomic_write_bytes(out, text.encode("utf-8"))


def to_source(net, weights_name: str | None = None) -> str:
    """The generated module's text."""
    report = net.analyze(fixes=False)
    d = report.first_error
    if d:
        raise ConvScopeError(f"cannot write PyTorch code for a network with an error: "
                             f"{d.message}", f"{d.path} '{d.layer}'")
    writer = _Writer(report)
    body = writer.sequence_attributes(net.layers)
    forward = [f"        x = self.{writer.ident[layer.name]}(x)" for layer in net.layers]
    cls = class_name(net.name)
    c, h, w = net.input.shape
    weights = weights_name or "weights.npz"
    parts = [
        f'"""{_doc_line(net.name)} as a PyTorch module, written by ConvScope.\n\n'
        f"Input: (N, {c}, {h}, {w}) float32"
        + (": an image scaled to [0, 1], then normalised\nper channel with MEAN and STD"
           if net.input.mean is not None or net.input.std is not None else "")
        + ". A vector (an fc layer's output) is kept as\n(N, C, 1, 1), as ConvScope "
        "shows it.\n\n"
        f"    model = {cls}()\n"
        f'    load_convscope_weights(model, "{weights}")  # the weights ConvScope saved\n'
        '"""\n',
        ("from collections import OrderedDict\n\n" if writer.nested else "")
        + "import numpy as np\nimport torch\nfrom torch import nn\n",
        f"INPUT_SHAPE = ({c}, {h}, {w})\nMEAN = {net.input.mean!r}\nSTD = {net.input.std!r}\n",
        *(_HELPERS[name] for name in _HELPERS if name in writer.helpers),
        f"\nclass {cls}(nn.Module):\n"
        f"    def __init__(self):\n        super().__init__()\n"
        + "\n".join(body) + "\n\n    def forward(self, x):\n" + "\n".join(forward)
        + "\n        return x\n",
        "\n# ConvScope layer name → module path in this model (the weights file's keys)\n"
        "MODULES = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in writer.paths.items())
        + "}\n",
        _LOADER,
        f'\nif __name__ == "__main__":\n    model = {cls}().eval()\n    print(model)\n'
        "    with torch.no_grad():\n"
        "        print(tuple(model(torch.zeros(1, *INPUT_SHAPE)).shape))\n",
    ]
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


class _Writer:
    def __init__(self, report):
        self.info = {i.name: i for i in report.layers}
        self.ident = _identifiers([i.name for i in report.layers])
        self.helpers: set = set()
        self.paths: dict = {}  # layer name → module path
        self.nested = False  # whether a block needs nn.Sequential(OrderedDict(...))

    def sequence_attributes(self, layers) -> list:
        """``self.<ident> = ...`` lines for the top-level layers."""
        lines = []
        for layer in layers:
            ident = self.ident[layer.name]
            self.paths[layer.name] = ident
            expr = self.module(layer, ident, indent=8)
            lines.append(f"        self.{ident} = {expr}")
        return lines

    def module(self, layer, path, indent) -> str:
        """The constructor expression for one layer (blocks span several lines)."""
        info = self.info[layer.name]
        if layer.TYPE == "residual":
            self.helpers.add("Residual")
            body = self.sequential(layer.values["body"], f"{path}.body", indent + 4)
            shortcut = self.sequential(layer.values["shortcut"], f"{path}.shortcut",
                                       indent + 4)
            pad = " " * (indent + 4)
            return (f"Residual(  # {fmt_shape(info.out)}\n{pad}body={body},\n"
                    f"{pad}shortcut={shortcut},\n{' ' * indent})")
        if layer.TYPE == "concat":
            self.helpers.add("Concat")
            pad = " " * (indent + 4)
            branches = [self.sequential(b, f"{path}.branches.{k}", indent + 4)
                        for k, b in enumerate(layer.values["branches"])]
            inner = "".join(f"{pad}{b},\n" for b in branches)
            return f"Concat(  # {fmt_shape(info.out)}\n{inner}{' ' * indent})"
        return f"{self.leaf(layer, info)}  # {fmt_shape(info.out)}"

    def sequential(self, layers, path, indent) -> str:
        self.nested = True
        if not layers:
            return "nn.Sequential()"
        pad = " " * (indent + 4)
        items = []
        for layer in layers:
            ident = self.ident[layer.name]
            self.paths[layer.name] = f"{path}.{ident}"
            expr = self.module(layer, f"{path}.{ident}", indent + 4)
            if "  # " in expr and "\n" not in expr:  # keep the shape comment after the comma
                code, comment = expr.split("  # ", 1)
                items.append(f"{pad}({ident!r}, {code}),  # {comment}")
            else:
                items.append(f"{pad}({ident!r}, {expr}),")
        inner = "\n".join(items)
        return f"nn.Sequential(OrderedDict([\n{inner}\n{' ' * indent}]))"

    def leaf(self, layer, info) -> str:
        v, kind = layer.values, layer.TYPE
        c_in = info.in_shape[0]
        if kind == "conv":
            args = [str(c_in), str(v["filters"]), f"kernel_size={_arg(layer.pair('kernel'))}"]
            args += _optional(stride=(layer.pair("stride"), 1),
                              padding=(layer.pair_padding(), 0),
                              dilation=(layer.pair("dilation"), 1), groups=(v["groups"], 1))
            if not v["bias"]:
                args.append("bias=False")
            return f"nn.Conv2d({', '.join(args)})"
        if kind == "pool":
            args = [_arg(layer.pair("kernel")), f"stride={_arg(layer.stride_pair())}"]
            args += _optional(padding=(layer.pair("padding"), 0))
            if v["ceil_mode"]:
                args.append("ceil_mode=True")
            if v["mode"] == "max":
                return f"nn.MaxPool2d({', '.join(args)})"
            if v["mode"] == "avg":
                if not v["count_include_pad"]:
                    args.append("count_include_pad=False")
                return f"nn.AvgPool2d({', '.join(args)})"
            self.helpers.add("L2Pool2d")
            return f"L2Pool2d({', '.join(args)})"
        if kind == "fc":
            self.helpers.add("Linear")
            n_in = c_in * info.in_shape[1] * info.in_shape[2]
            bias = "" if v["bias"] else ", bias=False"
            return f"Linear({n_in}, {v['units']}{bias})"
        if kind == "flatten":
            self.helpers.add("Flatten")
            return "Flatten()"
        if kind == "batchnorm":
            return f"nn.BatchNorm2d({c_in}, eps={v['eps']!r}, momentum={v['momentum']!r})"
        if kind == "lrn":
            return (f"nn.LocalResponseNorm({v['size']}, alpha={v['alpha']!r}, "
                    f"beta={v['beta']!r}, k={v['k']!r})")
        simple = {"relu": "nn.ReLU()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
                  "softmax": "nn.Softmax(dim=1)", "global_avg_pool": "nn.AdaptiveAvgPool2d(1)",
                  "leaky_relu": f"nn.LeakyReLU({v.get('negative_slope')!r})",
                  "dropout": f"nn.Dropout(p={v.get('rate')!r})"}
        if kind not in simple:
            raise ConvScopeError(f"layer type '{kind}' has no PyTorch module", f"'{layer.name}'")
        return simple[kind]


def _arg(pair) -> str:
    h, w = pair
    return str(h) if h == w else f"({h}, {w})"


def _optional(**values) -> list:
    """``key=value`` for every value that is not its default."""
    out = []
    for key, (value, default) in values.items():
        if isinstance(value, tuple):
            if value != (default, default):
                out.append(f"{key}={_arg(value)}")
        elif value != default:
            out.append(f"{key}={value}")
    return out


def _identifiers(names) -> dict:
    """Layer name → a Python identifier, unique in the model, that is no keyword and no
    attribute of nn.Module (``conv1-a`` → ``conv1_a``, ``1x1`` → ``layer_1x1``)."""
    out, taken = {}, set()
    for name in names:
        ident = re.sub(r"\W", "_", name)
        if not ident or ident[0].isdigit():
            ident = "layer_" + ident
        if keyword.iskeyword(ident) or ident in _MODULE_ATTRIBUTES:
            ident += "_"
        base, k = ident, 1
        while ident in taken:
            k += 1
            ident = f"{base}_{k}"
        taken.add(ident)
        out[name] = ident
    return out


def class_name(name: str) -> str:
    """The generated module class: the network name in CamelCase (ResNet-50 → ResNet50)."""
    words = re.findall(r"[A-Za-z0-9]+", name or "")
    ident = "".join(w[:1].upper() + w[1:] for w in words)
    if not ident or ident[0].isdigit():
        ident = "Net" + ident
    return ident


def _doc_line(name: str) -> str:
    return (name or "A network").replace('"""', "'''").replace("\\", "/")
