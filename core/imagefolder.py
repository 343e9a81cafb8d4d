"""Training on your own images: a folder with one subfolder per class (the ImageFolder
layout), a stratified held-out split, simple augmentation and the figures shown after a run.

Decoding PNG/JPEG needs an image codec, which core (NumPy only) does not have: the GUI
decodes the files ``scan_folder`` lists, fitted to the network's input, and hands back
arrays. Everything else about a folder of images lives here::

    folder = scan_folder("pets")           # classes ("cat", "dog"), files, labels
    check_budget(folder, net.input)        # refused before a single file is decoded
    train, test = stratified_split(folder.labels, 0.2, seed=0)
    ...
    matrix = confusion_matrix(y_test, probs.argmax(1), len(folder.classes))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConvScopeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".webp", ".tif",
                  ".tiff")
MAX_IMAGES = 100_000
MAX_DATA_BYTES = 1 << 30  # the decoded float32 arrays at the network's input size
MAX_PIXELS = 50_000_000  # one file, checked from its header before it is decoded
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class ImageFolder:
    """What a folder holds: class names (sorted subfolder names), every image file and its
    label (the index of its class)."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[Path, ...]
    labels: np.ndarray  # (N,) int64

    @property
    def counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()

    def summary(self) -> str:
        """One line: "2 classes, 20 images: blue 10, red 10"."""
        parts = ", ".join(f"{name} {n}" for name, n in zip(self.classes, self.counts))
        return f"{len(self.classes)} classes, {len(self.files)} images: {parts}"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def scan_folder(root, max_images: int = MAX_IMAGES) -> ImageFolder:
    """List a folder of class subfolders (sorted names = classes) and the image files in
    each (by suffix, searched through nested folders). Nothing is decoded.

    Refuses (ConvScopeError naming the folder) a path that is not a folder, fewer than two
    class subfolders, a class with no images, and more than ``max_images`` images."""
    root = Path(root)
    if not root.is_dir():
        raise ConvScopeError("is not a folder", source=str(root))
    subfolders = sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)),
                        key=lambda p: p.name)
    if len(subfolders) < 2:
        raise ConvScopeError(f"has {len(subfolders)} subfolder(s); training needs one "
                             "subfolder per class (at least two), each holding that class's "
                             "images", source=str(root))
    files, labels = [], []
    for label, folder in enumerate(subfolders):
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                        and p.is_file() and _visible(p))
        if not images:
            raise ConvScopeError(f"the class folder {folder.name!r} holds no images "
                                 f"({', '.join(IMAGE_SUFFIXES[:4])}, ...)", source=str(root))
        files += images
        labels += [label] * len(images)
        if len(files) > max_images:
            raise ConvScopeError(f"holds more than {max_images:,} images; use a smaller "
                                 "folder", source=str(root))
    return ImageFolder(root, tuple(p.name for p in subfolders), tuple(files),
                       np.array(labels, dtype=np.int64))


def check_budget(folder: ImageFolder, spec, max_bytes: int = MAX_DATA_BYTES) -> None:
    """Refuse, before decoding, a folder whose images at the network's input size (float32)
    would take more than ``max_bytes``."""
    size = len(folder.files) * spec.channels * spec.height * spec.width * 4
    if size > max_bytes:
        raise ConvScopeError(f"{len(folder.files):,} images at "
                             f"{spec.height}×{spec.width}×{spec.channels} would take "
                             f"{size / 2**20:,.0f} MB; at most {max_bytes / 2**20:,.0f} MB",
                             source=str(folder.root))


def stratified_split(labels, test_fraction: float = TEST_FRACTION,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), each sorted: from every class, a seeded random
    ``test_fraction`` of its examples (rounded, at least one when the class has two or
    more) is held out, so every class is in both parts in proportion."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, len(labels)])
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = len(members)
        take = 0 if n < 2 else min(n - 1, max(1, int(round(n * test_fraction))))
        test.append(rng.permutation(members)[:take])
    test_index = np.sort(np.concatenate(test)).astype(np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), test_index)
    return train_index, test_index


# ============================================================================ augmentation
def flip_horizontal(x, rng) -> np.ndarray:
    """Each image of (N, C, H, W) mirrored left–right with probability ½."""
    x = np.array(x, copy=True)
    flip = rng.random(len(x)) < 0.5
    x[flip] = x[flip, :, :, ::-1]
    return x


def random_crop(x, rng, padding: int) -> np.ndarray:
    """Each image of (N, C, H, W) zero-padded by ``padding`` on every side and cropped back
    to H×W at a random place: a shift of up to ``padding`` pixels each way."""
    if padding <= 0:
        return np.array(x, copy=True)
    n, _c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dy = rng.integers(0, 2 * padding + 1, n)
    dx = rng.integers(0, 2 * padding + 1, n)
    rows = dy[:, None] + np.arange(h)[None]  # (N, H)
    cols = dx[:, None] + np.arange(w)[None]  # (N, W)
    batch = np.arange(n)[:, None, None, None]
    channel = np.arange(x.shape[1])[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def augment(x, rng, flip: bool = False, crop_padding: int = 0) -> np.ndarray:
    """A training batch as augmentation sees it (random crop, then random flip)."""
    if crop_padding:
        x = random_crop(x, rng, crop_padding)
    if flip:
        x = flip_horizontal(x, rng)
    return x


# ============================================================================ after a run
def confusion_matrix(true, predicted, classes: int) -> np.ndarray:
    """(classes, classes) int64 counts: row = the true class, column = the predicted one."""
    true = np.asarray(true, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    return np.bincount(true * classes + predicted,
                       minlength=classes * classes).reshape(classes, classes)


@dataclass(frozen=True)
class Mistake:
    index: int  # in the test set
    true: int
    predicted: int
    confidence: float  # the probability given to the (wrong) prediction


def misclassified(probs, labels, limit: int | None = None) -> list[Mistake]:
    """The test examples predicted wrong, the most confident mistakes first."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return [Mistake(int(i), int(labels[i]), int(predicted[i]), float(probs[i, predicted[i]]))
            for i in order]
