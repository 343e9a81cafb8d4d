"""Bundled training data that needs no download, made with NumPy only.

``generated_digits`` draws the digits 0–9 (and, if asked, five simple shapes) from a small
stroke font: every glyph is a few polylines in a unit box, bent by a random affine map and
per-point wobble, drawn with a random pen width as an anti-aliased distance field, then given
a random brightness and pixel noise. Images are (N, 1, S, S) float32 in [0, 1] (ink bright on
a dark background, as MNIST), labels int64.

``sklearn_digits`` returns scikit-learn's 8×8 handwritten digits when that optional package
is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConvScopeError

DIGIT_NAMES = tuple(str(d) for d in range(10))
SHAPE_NAMES = ("circle", "square", "triangle", "cross", "diamond")
MIN_SIZE, MAX_SIZE = 12, 256
_CHUNK = 128  # images of one glyph drawn at once: (chunk × pixels) arrays that stay in cache


# ============================================================================ the stroke font
def _arc(cx, cy, rx, ry, start, stop, points=12):
    """Points on an ellipse, angles in degrees; y points down, so 90° is the bottom."""
    t = np.radians(np.linspace(start, stop, points))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _line(*points):
    return np.array(points, dtype=float)


def _join(*parts):
    return np.concatenate([np.asarray(p, dtype=float) for p in parts])


# Each class: a list of variants; each variant a list of polylines (k, 2) in the unit box
# (x right, y down). Variants are the different ways people write the same digit.
GLYPHS: dict[int, list[list[np.ndarray]]] = {
    0: [[_arc(0.5, 0.5, 0.30, 0.45, 0, 360, 20)],
        [_arc(0.5, 0.5, 0.28, 0.45, 0, 360, 20), _line((0.66, 0.22), (0.34, 0.78))]],
    1: [[_line((0.5, 0.05), (0.5, 0.95)), _line((0.28, 0.25), (0.5, 0.05))],
        [_line((0.5, 0.05), (0.5, 0.95)), _line((0.3, 0.22), (0.5, 0.05)),
         _line((0.3, 0.95), (0.7, 0.95))],
        [_line((0.55, 0.05), (0.45, 0.95))]],
    2: [[_join(_arc(0.5, 0.3, 0.28, 0.25, 190, 375, 10), _line((0.2, 0.95), (0.82, 0.95)))],
        [_join(_arc(0.5, 0.3, 0.28, 0.25, 190, 360, 9),
               _arc(0.2, 0.3, 0.58, 0.65, 0, 90, 6)[1:], _line((0.85, 0.93)))]],
    3: [[_arc(0.48, 0.28, 0.27, 0.23, 200, 450, 11), _arc(0.48, 0.72, 0.3, 0.25, -90, 160, 11)],
        [_join(_line((0.2, 0.05), (0.8, 0.05), (0.45, 0.42)),
               _arc(0.48, 0.68, 0.3, 0.27, -90, 160, 11))]],
    4: [[_line((0.66, 0.95), (0.66, 0.05), (0.15, 0.66), (0.88, 0.66))],
        [_line((0.3, 0.05), (0.18, 0.6), (0.85, 0.6)), _line((0.68, 0.3), (0.68, 0.95))]],
    5: [[_join(_line((0.8, 0.05), (0.28, 0.05), (0.24, 0.45)),
               _arc(0.5, 0.67, 0.3, 0.27, -125, 150, 12))]],
    6: [[_join(_arc(0.62, 0.55, 0.4, 0.5, -80, -180, 6), _arc(0.5, 0.7, 0.28, 0.25, 180, 540, 16))],
        [_join(_line((0.7, 0.05), (0.28, 0.55)), _arc(0.5, 0.72, 0.27, 0.23, 200, 560, 16))]],
    7: [[_line((0.15, 0.05), (0.85, 0.05), (0.4, 0.95))],
        [_line((0.15, 0.05), (0.85, 0.05), (0.4, 0.95)), _line((0.35, 0.5), (0.78, 0.5))]],
    8: [[_arc(0.5, 0.27, 0.22, 0.22, 0, 360, 14), _arc(0.5, 0.72, 0.28, 0.24, 0, 360, 16)]],
    9: [[_arc(0.5, 0.3, 0.27, 0.25, 0, 360, 16), _line((0.77, 0.3), (0.62, 0.95))],
        [_join(_arc(0.5, 0.3, 0.27, 0.25, 0, 360, 16), _arc(0.27, 0.3, 0.5, 0.65, 0, 80, 6))]],
    10: [[_arc(0.5, 0.5, 0.4, 0.4, 0, 360, 20)]],
    11: [[_line((0.12, 0.12), (0.88, 0.12), (0.88, 0.88), (0.12, 0.88), (0.12, 0.12))]],
    12: [[_line((0.5, 0.08), (0.92, 0.88), (0.08, 0.88), (0.5, 0.08))]],
    13: [[_line((0.1, 0.5), (0.9, 0.5)), _line((0.5, 0.1), (0.5, 0.9))]],
    14: [[_line((0.5, 0.05), (0.92, 0.5), (0.5, 0.95), (0.08, 0.5), (0.5, 0.05))]],
}


def _segments(variant) -> np.ndarray:
    """The variant's polylines as segments (k, 2 points, 2 coords)."""
    return np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in variant])


# Every way of writing every class: (label, segments).
_VARIANTS = [(label, _segments(v)) for label, vs in GLYPHS.items() for v in vs]
_VARIANT_LABEL = np.array([label for label, _ in _VARIANTS])


# ============================================================================ rendering
def _random_affine(rng, n, size):
    """(n, 2, 3) maps from the unit box to pixels: rotation, scale, aspect, shear, shift."""
    angle = np.radians(rng.uniform(-14, 14, n))
    scale = size * rng.uniform(0.55, 0.78, n)
    aspect = rng.uniform(0.7, 1.0, n)  # glyphs are taller than wide
    shear = rng.uniform(-0.3, 0.3, n)
    cos, sin = np.cos(angle), np.sin(angle)
    # M = R · Shear · diag(scale·aspect, scale)
    sx, sy = scale * aspect, scale
    m = np.empty((n, 2, 3))
    m[:, 0, 0] = cos * sx
    m[:, 0, 1] = (cos * shear - sin) * sy
    m[:, 1, 0] = sin * sx
    m[:, 1, 1] = (sin * shear + cos) * sy
    centre = (size - 1) / 2 + rng.uniform(-0.08, 0.08, (n, 2)) * size
    # the unit box's centre (0.5, 0.5) goes to the chosen centre
    m[:, :, 2] = centre - 0.5 * (m[:, :, 0] + m[:, :, 1])
    return m


def _render(segments, n, rng, size):
    """Draw ``n`` copies of one glyph variant, each bent its own way: segments (S, 2, 2)
    in the unit box → (n, size, size) float32 in [0, 1]."""
    count = len(segments)
    seg = segments[None] + rng.normal(0, 0.025, (n, count, 2, 2))  # the hand's wobble
    m = _random_affine(rng, n, size)
    pts = (np.einsum("nij,nskj->nski", m[:, :, :2], seg) + m[:, None, None, :, 2])
    pts = pts.astype(np.float32)
    ax, ay = pts[:, :, 0, 0], pts[:, :, 0, 1]  # (n, S) segment starts in pixels
    dx, dy = pts[:, :, 1, 0] - ax, pts[:, :, 1, 1] - ay
    inv_len2 = 1 / np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    coords = np.arange(size, dtype=np.float32)
    px = np.tile(coords, size)[None]  # (1, P): x of every pixel, row-major
    py = np.repeat(coords, size)[None]
    best = np.full((n, size * size), np.inf, dtype=np.float32)
    # One segment at a time over the whole chunk, so the (n, P) arrays stay in cache.
    for s in range(count):
        ux, uy = px - ax[:, s, None], py - ay[:, s, None]
        t = np.clip((ux * dx[:, s, None] + uy * dy[:, s, None]) * inv_len2[:, s, None], 0, 1)
        ux -= t * dx[:, s, None]
        uy -= t * dy[:, s, None]
        np.minimum(best, ux * ux + uy * uy, out=best)
    dist = np.sqrt(best)  # (n, P): distance from each pixel to the pen's path
    pen = size / 28 * rng.uniform(0.7, 1.6, (n, 1))  # half the stroke width, in pixels
    ink = np.clip(pen + 0.5 - dist, 0, 1)  # with one pixel of anti-aliased edge
    ink *= rng.uniform(0.65, 1.0, (n, 1))
    noise = rng.normal(0, 1, ink.shape) * rng.uniform(0.02, 0.1, (n, 1))
    return np.clip(ink + noise, 0, 1).reshape(n, size, size).astype(np.float32)


def generated_digits(n: int, size: int = 28, seed: int = 0, shapes: bool = False,
                     channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered digits (labels 0–9) and, with ``shapes``, simple shapes (labels 10–14:
    see ``SHAPE_NAMES``), classes in equal numbers and shuffled.

    Returns x (n, channels, size, size) float32 in [0, 1] (a grey image repeated over the
    channels) and y (n,) int64. The same (n, size, seed, shapes) always gives the same data.
    """
    for key, value, low, high in (("n", n, 1, 10_000_000), ("size", size, MIN_SIZE, MAX_SIZE),
                                  ("channels", channels, 1, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConvScopeError(f"{key} must be a whole number from {low} to {high}, "
                                 f"got {value!r}", "generated_digits")
    rng = np.random.default_rng([seed, size, n, int(shapes)])
    classes = 15 if shapes else 10
    labels = rng.permutation(np.arange(n) % classes)
    choices = [np.flatnonzero(c == _VARIANT_LABEL) for c in range(classes)]
    variants = np.array([rng.choice(choices[c]) for c in labels])
    x = np.empty((n, channels, size, size), dtype=np.float32)
    for v, (_, segments) in enumerate(_VARIANTS):
        where = np.flatnonzero(variants == v)
        for start in range(0, len(where), _CHUNK):
            part = where[start:start + _CHUNK]
            x[part] = _render(segments, len(part), rng, size)[:, None]
    return x, labels.astype(np.int64)


def class_names(shapes: bool = False) -> tuple[str, ...]:
    """The name of every label ``generated_digits`` makes."""
    return DIGIT_NAMES + (SHAPE_NAMES if shapes else ())


def split(x, y, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test): the last ``test_fraction`` is the test set."""
    cut = len(x) - max(1, int(round(len(x) * test_fraction)))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def sklearn_digits(size: int | None = None):
    """scikit-learn's 1,797 handwritten 8×8 digits as (x (N, 1, 8, 8) float32 in [0, 1], y),
    scaled to ``size``×``size`` (nearest neighbour) if given.

    Raises ConvScopeError when scikit-learn is not installed (it is optional)."""
    try:
        from sklearn.datasets import load_digits  # optional, imported only when asked for
    except ImportError:
        raise ConvScopeError("scikit-learn is not installed (pip install scikit-learn); "
                             "use the generated digits instead", "sklearn_digits") from None
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    if size is not None and size != 8:
        index = (np.arange(size) * 8) // size
        x = x[:, :, index][:, :, :, index]
    return np.ascontiguousarray(x), data.target.astype(np.int64)


def has_sklearn() -> bool:
    """Whether ``sklearn_digits`` can work here."""
    import importlib.util
    return importlib.util.find_spec("sklearn") is not None


# ============================================================================ the catalogue
# What the Train panel offers, and whether a network can be trained on it.
MAX_CHANNELS = 4  # the generated images are grey, repeated over up to 4 channels


@dataclass(frozen=True)
class Dataset:
    """One choice of training data: generated (no download) or scikit-learn's digits."""

    key: str
    title: str
    size: int | None  # None: any square size (scaled to the network's input)
    shapes: bool = False
    sklearn: bool = False
    names: tuple[str, ...] = ()  # a folder's class names (the generated sets know theirs)

    @property
    def classes(self) -> int:
        return len(self.names) if self.is_folder else 15 if self.shapes else 10

    @property
    def label_names(self) -> tuple[str, ...]:
        """The name of every class, in label order."""
        return self.names if self.is_folder else class_names(self.shapes)

    @property
    def is_folder(self) -> bool:
        """The user's own images (core.imagefolder): fitted to any input size and channel
        count, and the last layer must give exactly one score per class."""
        return self.key == FOLDER_KEY

    def takes_scores(self, count: int) -> bool:
        """Whether a network giving ``count`` class scores can learn this data: at least one
        per class; exactly one per class for a folder (its labels file names them all)."""
        return count == self.classes if self.is_folder else count >= self.classes


DATASETS = (
    Dataset("digits32", "Generated digits, 32×32 (10 classes)", 32),
    Dataset("digits28", "Generated digits, 28×28 (10 classes)", 28),
    Dataset("shapes32", "Generated digits and shapes, 32×32 (15 classes)", 32, shapes=True),
    Dataset("shapes28", "Generated digits and shapes, 28×28 (15 classes)", 28, shapes=True),
    Dataset("sklearn", "scikit-learn handwritten digits, 8×8 scaled to the input (10 classes)",
            None, sklearn=True),
)


FOLDER_KEY = "folder"


def folder_dataset(names=()) -> Dataset:
    """The catalogue's entry for a folder of images with these class names (none: no folder
    chosen yet)."""
    title = f"Image folder ({len(names)} classes)" if names else "Image folder…"
    return Dataset(FOLDER_KEY, title, None, names=tuple(names))


@dataclass
class Problem:
    """Why a network cannot be trained on a data set; ``fixes`` are left to the caller."""

    message: str
    fixes: list = field(default_factory=list)


def dataset_size(dataset: Dataset, net) -> int:
    return dataset.size if dataset.size is not None else net.input.height


def check_match(net, report, dataset: Dataset, batch: int = 1) -> Problem | None:
    """Why ``net`` cannot be trained on ``dataset`` (None if it can), in one sentence, with
    the fixes a button can apply (filled in by the panel)."""
    spec = net.input
    size = dataset_size(dataset, net)
    if dataset.sklearn and not has_sklearn():
        return Problem("scikit-learn is not installed (pip install scikit-learn); use the "
                       "generated digits.")
    if dataset.is_folder and not dataset.names:
        return Problem("Choose a folder of images: one subfolder per class, named after it.")
    if not dataset.is_folder and (spec.channels > MAX_CHANNELS or
                                  (spec.height, spec.width) != (size, size)):
        return Problem(f"The network takes {spec.height}×{spec.width}×{spec.channels} images "
                       f"but these are {size}×{size} (grey): the input must be {size}×{size} "
                       f"with 1 to {MAX_CHANNELS} channels.")
    try:
        net.check_runnable(batch, report)
    except ConvScopeError as err:
        return Problem(f"The network cannot run: {err}")
    out = report.output
    if out is None or out[1:] != (1, 1):
        return Problem("Training needs class scores K×1×1 at the end; this network ends in "
                       f"{out[1]}×{out[2]}×{out[0]}: end it with an fc layer.")
    if not dataset.takes_scores(out[0]):
        return Problem(f"The network gives {out[0]} scores but the data has "
                       f"{dataset.classes} classes: the last layer needs "
                       f"{dataset.classes} units.")
    return None


def make_data(dataset: Dataset, count: int, size: int, channels: int):
    """(x_train, y_train, x_test, y_test) in [0, 1], N×channels×size×size."""
    if dataset.sklearn:
        x, y = sklearn_digits(size)
        if channels > 1:
            x = np.repeat(x, channels, axis=1)
        order = np.random.default_rng(0).permutation(len(x))
        return split(x[order], y[order], test_fraction=1 / 6)
    tests = held_out_count(count)
    x_train, y_train = generated_digits(count, size, seed=1, shapes=dataset.shapes,
                                        channels=channels)
    x_test, y_test = generated_digits(tests, size, seed=2, shapes=dataset.shapes,
                                      channels=channels)
    return x_train, y_train, x_test, y_test


def held_out_count(count: int) -> int:
    """The test set made beside ``count`` training images: a sixth, 200 to 2,000."""
    return min(2000, max(200, count // 6))
