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
        *writer.helpers,
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
    """Walks the layer tree; each layer type writes its own module (``Layer.torch_module``)
    through the methods below."""

    def __init__(self, report):
        self.info = {i.name: i for i in report.layers}
        self.ident = _identifiers([i.name for i in report.layers])
        self.helpers: list = []  # helper class sources the layers use, in order of first use
        self.paths: dict = {}  # layer name → module path
        self.nested = False  # whether a block needs nn.Sequential(OrderedDict(...))
        self._at = ("", 8)  # the module path and indent of the layer being written

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
        if layer.torch_module is None:
            raise ConvScopeError(f"layer type '{layer.TYPE}' has no PyTorch module: "
                                 f"{layer.NO_TORCH}", f"'{layer.name}'")
        self._at = (path, indent)
        expr = layer.torch_module(info, self)
        return expr if "\n" in expr else f"{expr}  # {fmt_shape(info.out)}"

    # ---------------------------------------------------------------- for the layers
    def use(self, source: str) -> None:
        """Put a helper class (its source) in the file, once."""
        if source not in self.helpers:
            self.helpers.append(source)

    def call(self, cls, info, arguments) -> str:
        """``cls(`` with one argument a line, for a block: ``Residual(  # 8x8x64 ...)``."""
        indent = self._at[1]
        pad = " " * (indent + 4)
        inner = "".join(f"{pad}{a},\n" for a in arguments)
        return f"{cls}(  # {fmt_shape(info.out)}\n{inner}{' ' * indent})"

    def sequential(self, layers, suffix) -> str:
        """A block's sequence ``suffix`` (``body``, ``branches.1``) as an nn.Sequential."""
        self.nested = True
        at = self._at
        path, indent = f"{at[0]}.{suffix}", at[1] + 4
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
        self._at = at
        inner = "\n".join(items)
        return f"nn.Sequential(OrderedDict([\n{inner}\n{' ' * indent}]))"


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
