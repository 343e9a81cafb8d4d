"""Reading an ONNX model's numbers safely: tensors, attributes and numbers for messages.

Every tensor is checked against its declared dims before NumPy sees it (a hostile file can
declare any size or store too few bytes), and every attribute against the type the op table
expects, so a malformed model is refused with one line instead of a traceback.
"""

from __future__ import annotations

import re
from math import prod

import numpy as np

from ...errors import ConvScopeError

# The most elements one tensor (stored or folded) may have: a VGG fc weight has ~1e8.
MAX_ELEMENTS = 1 << 29

# ONNX data type → (name, the TensorProto field that holds it when not raw, item size)
_TYPES = {1: ("float32", "float_data", 4), 2: ("uint8", "int32_data", 1),
          3: ("int8", "int32_data", 1), 4: ("uint16", "int32_data", 2),
          5: ("int16", "int32_data", 2), 6: ("int32", "int32_data", 4),
          7: ("int64", "int64_data", 8), 8: ("string", "string_data", 0),
          9: ("bool", "int32_data", 1), 10: ("float16", "int32_data", 2),
          11: ("float64", "double_data", 8), 12: ("uint32", "uint64_data", 4),
          13: ("uint64", "uint64_data", 8)}

# attribute kind → (AttributeProto type number, the field holding it)
ATTR_KINDS = {"float": (1, "f"), "int": (2, "i"), "string": (3, "s"), "tensor": (4, "t"),
              "floats": (6, "floats"), "ints": (7, "ints")}
_KIND_OF_TYPE = {number: kind for kind, (number, _) in ATTR_KINDS.items()}


def plain(value):
    """``value`` with NumPy scalars and arrays made Python numbers and lists, for messages
    (``1``, not ``np.int64(1)``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def one_line(text: str, limit: int = 0) -> str:
    """``text`` with control characters (a newline in a node's name) escaped, and cut to
    ``limit`` characters if one is given: messages are one line."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)
    return text if not limit or len(text) <= limit else text[:limit - 1] + "…"


def check_count(count, what) -> None:
    """Refuse a tensor of ``count`` elements before anything of that size is allocated;
    ``what`` begins the message (``initializer 'w' declares``)."""
    if count > MAX_ELEMENTS:
        raise ConvScopeError(f"{what} {count:,} numbers; ConvScope reads at most "
                             f"{MAX_ELEMENTS:,} in one tensor")


def tensor_array(tensor, what) -> np.ndarray:
    """A TensorProto as an array, after checking its type, its dims and that the data
    stored matches them. ``what`` names the tensor in messages."""
    from onnx import numpy_helper

    known = _TYPES.get(tensor.data_type)
    if known is None:
        raise ConvScopeError(f"{what} has data type {tensor.data_type}, which ConvScope does "
                             "not read")
    type_name, field, itemsize = known
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise ConvScopeError(f"{what} has a negative dimension in {dims}")
    count = prod(dims)
    check_count(count, f"{what} declares")
    if tensor.HasField("segment"):
        raise ConvScopeError(f"{what} is stored in segments, which ConvScope does not read")
    if tensor.data_location == 1 or len(tensor.external_data):
        raise ConvScopeError(f"{what} keeps its data in an external file that was not loaded")
    if tensor.HasField("raw_data") and type_name != "string":
        stored, expected = len(tensor.raw_data), count * itemsize
        unit = "bytes"
    else:
        stored, expected = len(getattr(tensor, field)), count
        unit = "values"
    if stored != expected:
        raise ConvScopeError(f"{what} declares dims {dims} ({type_name}: {expected} {unit}) "
                             f"but stores {stored}")
    return numpy_helper.to_array(tensor)


def type_word(array) -> str:
    """What an array holds, for messages: ``text`` or its NumPy type."""
    return "text" if array.dtype.kind in "OSU" else str(array.dtype)


def attribute_value(attr, kind, what):
    """The value of AttributeProto ``attr``, which must be of ``kind`` (see ATTR_KINDS)."""
    number, field = ATTR_KINDS[kind]
    if attr.type != number:
        got = _KIND_OF_TYPE.get(attr.type, f"type {attr.type}")
        raise ConvScopeError(f"{what} is {'an' if got[0] in 'aeiou' else 'a'} {got}; it must "
                             f"be {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    value = getattr(attr, field)
    if kind == "string":
        return value.decode("utf-8", "replace")
    if kind == "tensor":
        return tensor_array(value, what)
    if kind in ("ints", "floats"):
        return [float(v) for v in value] if kind == "floats" else [int(v) for v in value]
    return float(value) if kind == "float" else int(value)


def constant_value(node, node_name):
    """The array a Constant node holds, or None when it holds no numbers ConvScope reads.
    ``node_name`` begins messages (``node 'c' (Constant)``)."""
    for attr in node.attribute:
        what = f"{node_name} attribute '{attr.name}'"
        if attr.name == "value":
            return attribute_value(attr, "tensor", what)
        for kind in ("float", "int", "floats", "ints"):
            if attr.name == f"value_{kind}":
                return np.array(attribute_value(attr, kind, what),
                                np.float32 if kind.startswith("float") else np.int64)
    return None
