"""The bundled presets and examples: plain architecture files in ``assets/``, read by the
same loader as a user's file."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ConvScopeError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ARCHITECTURES = ASSETS / "architectures"
# what `convscope` opens with no FILE: a network with real trained weights, so the first
# feature maps and kernels a newcomer sees mean something
DEFAULT_EXAMPLE = ARCHITECTURES / "shapes_cnn.json"


def preset_paths() -> list[Path]:
    """Every preset, in the order of the notes' case studies."""
    order = ["lenet5", "alexnet", "alexnet_two_tower", "zfnet", "vgg16", "googlenet",
             "resnet18", "resnet34", "resnet50"]
    paths = sorted(ARCHITECTURES.glob("*.json"))
    rank = {name: i for i, name in enumerate(order)}
    return sorted(paths, key=lambda p: (rank.get(p.stem, len(order)), p.stem))


def preset_path(name: str) -> Path:
    """The bundled preset called ``name`` ("vgg16", "resnet18", ...), wherever the cwd is."""
    path = ARCHITECTURES / f"{name}.json"
    if not path.is_file():
        names = ", ".join(p.stem for p in preset_paths())
        raise ConvScopeError(f"no preset called {name!r}; the presets are {names}")
    return path


def preset_title(path: Path) -> tuple[str, str]:
    """(name, description) of a preset without building it."""
    data = json.loads(Path(path).read_text("utf-8"))
    return data.get("name", path.stem), data.get("description", "")
