"""Train the bundled shapes network with ConvScope's own NumPy trainer, from generated data.

    QT_QPA_PLATFORM=offscreen python3 assets/tools/make_trained.py [--out DIR]

The data set is made here with NumPy only: 32×32 RGB pictures (CIFAR-10's size) of one
filled shape (circle, ring, square, triangle, cross, star) in a random colour, size, place and
tilt over a background of other colours (a gradient, soft blobs, faint stripes and pixel
noise). The class is the shape alone, so colour and background are nuisances the network must
learn to look past: to find a shape's outline whatever its colours, it has to learn edge
detectors in its first layer.

Writes, into assets/ (or --out DIR, laid out the same way):
  architectures/shapes_cnn.json, .npz (its weights) and .labels.txt (one class a line),
  images/samples/shapes_cnn-<class>.png: one held-out picture per class, each checked to be
  classified correctly when read back through the app's own image loader.

Everything comes from fixed seeds and runs on one BLAS thread (set below, before NumPy is
imported: a different thread count sums in a different order), so two runs write the same
bytes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # as a script; a test that imports make_data changes nothing
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from convscope.core import Network  # noqa: E402
from convscope.core.train import TrainConfig, Trainer  # noqa: E402

NAME = "shapes_cnn"
SIZE = 32  # CIFAR-10's size, the notes' running example (INPUT [32x32x3])
CLASSES = ("circle", "ring", "square", "triangle", "cross", "star")
TRAIN_SEED, TEST_SEED, SAMPLE_SEED = 1, 2, 3  # the held-out test's seed is 4 (see tests/)
N_TRAIN, N_TEST = 12000, 1000
CONFIG = TrainConfig(optimizer="adam", lr=3e-3, batch_size=50, epochs=4, lr_decay=0.5,
                     seed=0, eval_limit=N_TEST)
MIN_CONTRAST = 0.45  # least RGB distance between the shape's colour and its background's
# The pictures' mean is 0.50 and their std 0.26 in every channel (the colours are uniform);
# round values that float32 holds exactly keep the file plain.
MEAN, STD = 0.5, 0.25
# conv1 starts from its He-normal weights scaled down by this. Batchnorm after it makes the
# layer's scale irrelevant to what it computes, and Adam moves every weight by about lr a
# step whatever its size; so the kernels end up as what was learned (edges, colour blobs)
# rather than the random start that only a few epochs would leave showing through.
CONV1_INIT_SCALE = 0.1


# ============================================================================ shapes
def _regular(points, radius=1.0, start=-90.0):
    """The vertices of a regular polygon on a circle, the first at the top."""
    t = np.radians(start + 360.0 * np.arange(points) / points)
    return np.stack([np.cos(t), np.sin(t)], axis=1) * radius


def _star(points=5, inner=0.45):
    outer = _regular(points)
    inner_points = _regular(points, inner, start=-90.0 + 180.0 / points)
    return np.stack([outer, inner_points], axis=1).reshape(-1, 2)


_ARM = 0.33  # half the width of the cross's arms
POLYGONS = {  # vertices in the shape's unit frame: x right, y down, fitting the unit circle
    "square": _regular(4, start=-45.0),
    "triangle": _regular(3),
    "cross": np.array([[-_ARM, -0.95], [_ARM, -0.95], [_ARM, -_ARM], [0.95, -_ARM],
                       [0.95, _ARM], [_ARM, _ARM], [_ARM, 0.95], [-_ARM, 0.95],
                       [-_ARM, _ARM], [-0.95, _ARM], [-0.95, -_ARM], [-_ARM, -_ARM]]),
    "star": _star(),
}


def _polygon_distance(u, v, vertices):
    """Signed distance (negative inside) from points (u, v), each (n, P), to a polygon in the
    same unit frame: the nearest edge's distance, with the sign of the even-odd rule."""
    best = np.full(u.shape, np.inf, np.float32)
    inside = np.zeros(u.shape, bool)
    for (ax, ay), (bx, by) in zip(vertices, np.roll(vertices, -1, axis=0)):
        dx, dy = bx - ax, by - ay
        t = np.clip(((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        np.minimum(best, (u - ax - t * dx) ** 2 + (v - ay - t * dy) ** 2, out=best)
        # a ray from the point towards +u crosses this edge
        crosses = ((ay > v) != (by > v)) & (u < ax + (v - ay) * dx / (dy if dy else 1e-12))
        inside ^= crosses
    return np.where(inside, -1, 1) * np.sqrt(best)


def shape_distance(name, u, v):
    """Signed distance in the unit frame from (u, v) to the shape ``name``."""
    r = np.sqrt(u * u + v * v)
    if name == "circle":
        return r - 1
    if name == "ring":
        return np.abs(r - 0.72) - 0.28
    return _polygon_distance(u, v, POLYGONS[name])


# ============================================================================ pictures
def _colours_away_from(rng, colour):
    """A random colour per row at least MIN_CONTRAST from ``colour`` (n, 3)."""
    out = rng.uniform(0, 1, colour.shape)
    for _ in range(50):
        near = np.linalg.norm(out - colour, axis=1) < MIN_CONTRAST
        if not near.any():
            break
        out[near] = rng.uniform(0, 1, (int(near.sum()), 3))
    return out


def _backgrounds(rng, n, fg):
    """(n, SIZE, SIZE, 3): a two-colour gradient, soft blobs and faint stripes."""
    coords = (np.arange(SIZE, dtype=np.float32) - (SIZE - 1) / 2) / SIZE
    gx, gy = coords[None, None, :], coords[None, :, None]
    a, b = _colours_away_from(rng, fg), _colours_away_from(rng, fg)
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    t = np.clip(0.5 + np.cos(angle) * gx + np.sin(angle) * gy, 0, 1)[..., None]
    image = a[:, None, None] * (1 - t) + b[:, None, None] * t
    # soft blobs: a coarse 5×5 grid of brightness, blown up smoothly (separable linear)
    coarse = rng.normal(0, 1, (n, 5, 5)) * rng.uniform(0, 0.08, (n, 1, 1))
    weights = np.stack([np.interp(np.linspace(0, 4, SIZE), np.arange(5), row)
                        for row in np.eye(5)], axis=1)  # (SIZE, 5)
    image += (weights @ coarse @ weights.T)[..., None]
    # faint stripes at a random orientation and period
    theta = rng.uniform(0, np.pi, (n, 1, 1))
    period = rng.uniform(3, 8, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    wave = np.sin(2 * np.pi * (np.cos(theta) * gx + np.sin(theta) * gy) * SIZE / period + phase)
    image += (wave * rng.uniform(0, 0.06, (n, 1, 1)))[..., None]
    return image


def make_data(n, seed):
    """``n`` pictures (n, 3, SIZE, SIZE) float32 in [0, 1] and labels (n,) int64, classes in
    equal numbers, shuffled. The same (n, seed) always gives the same data."""
    rng = np.random.default_rng([seed, n])
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    fg = rng.uniform(0, 1, (n, 3))
    image = _backgrounds(rng, n, fg)
    radius = rng.uniform(0.25, 0.42, n) * SIZE
    centre = rng.uniform(-1, 1, (n, 2)) * (SIZE / 2 - radius[:, None] - 1) + (SIZE - 1) / 2
    angle = np.radians(rng.uniform(-25, 25, n))
    px, py = np.meshgrid(np.arange(SIZE, dtype=np.float32), np.arange(SIZE, dtype=np.float32))
    px, py = px.reshape(1, -1), py.reshape(1, -1)
    for k, name in enumerate(CLASSES):
        rows = np.flatnonzero(labels == k)
        dx, dy = px - centre[rows, :1], py - centre[rows, 1:]
        cos, sin = np.cos(angle[rows])[:, None], np.sin(angle[rows])[:, None]
        # into the shape's unit frame: rotate back, divide by the radius
        u = (cos * dx + sin * dy) / radius[rows, None]
        v = (-sin * dx + cos * dy) / radius[rows, None]
        pixels = shape_distance(name, u, v) * radius[rows, None]
        cover = np.clip(0.5 - pixels, 0, 1).reshape(-1, SIZE, SIZE, 1)  # 1-pixel anti-aliasing
        image[rows] = image[rows] * (1 - cover) + fg[rows, None, None] * cover
    image += rng.normal(0, 1, image.shape) * rng.uniform(0, 0.05, (n, 1, 1, 1))
    x = np.clip(image, 0, 1).astype(np.float32).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x), labels.astype(np.int64)


# ============================================================================ the network
def architecture(accuracy=None):
    """The network as an architecture file's dict: three conv-batchnorm-relu-pool stages,
    then one fc layer from the 4×4×64 volume to the class scores."""
    layers = []
    for stage, (filters, kernel) in enumerate(((16, 5), (32, 3), (64, 3)), start=1):
        layers += [{"type": "conv", "name": f"conv{stage}", "filters": filters,
                    "kernel": kernel, "padding": kernel // 2},
                   {"type": "batchnorm", "name": f"bn{stage}"},
                   {"type": "relu", "name": f"relu{stage}"},
                   {"type": "pool", "name": f"pool{stage}", "mode": "max", "kernel": 2,
                    "stride": 2}]
    layers.append({"type": "fc", "name": "fc", "units": len(CLASSES)})
    held_out = "" if accuracy is None else (
        f" Held-out accuracy: {100 * accuracy:.1f} % on {N_TEST} pictures never trained on.")
    description = (
        "A small ConvNet with real trained weights, in the CS231n notes' pattern "
        f"INPUT [{SIZE}x{SIZE}x3] → [CONV → BATCHNORM → RELU → POOL] × 3 → FC. It tells apart "
        f"{len(CLASSES)} filled shapes ({', '.join(CLASSES)}) drawn in random colours, sizes, "
        "places and tilts (±25°) over gradient, blotchy, striped and noisy backgrounds. Trained "
        f"by assets/tools/make_trained.py with ConvScope's own NumPy trainer ({CONFIG.optimizer}, "
        f"lr {CONFIG.lr}, ×{CONFIG.lr_decay} per epoch, batch {CONFIG.batch_size}, "
        f"{CONFIG.epochs} epochs; conv1 started from its He-normal weights ×{CONV1_INIT_SCALE}) "
        f"on {N_TRAIN} generated pictures." + held_out +
        " Class names, in output order: shapes_cnn.labels.txt.")
    return {"format": "convscope", "version": 1, "name": "Shapes CNN (trained)",
            "description": description,
            "input": {"channels": 3, "height": SIZE, "width": SIZE,
                      "mean": [MEAN] * 3, "std": [STD] * 3},
            "seed": 0, "layers": layers}


def train(log=print):
    """The trained network and its held-out accuracy."""
    x_train, y_train = make_data(N_TRAIN, TRAIN_SEED)
    x_test, y_test = make_data(N_TEST, TEST_SEED)
    net = Network.from_dict(architecture())
    net.ensure_weights()
    net.weights["conv1.weight"] *= np.float32(CONV1_INIT_SCALE)
    trainer = Trainer(net, x_train, y_train, x_test, y_test, CONFIG)
    while not trainer.finished:
        trainer.run_epoch()
        log(f"epoch {trainer.epoch:.0f}: train loss {np.mean(trainer.history.loss[-50:]):.3f}, "
            f"held-out loss {trainer.test_loss:.3f}, accuracy {trainer.test_accuracy:.3f}")
    accuracy = trainer.test_accuracy
    trained = Network.from_dict(architecture(accuracy))
    trained.set_weights(net.state_dict())
    return trained, accuracy


# ============================================================================ writing
def save_png(path, x):
    """(3, H, W) in [0, 1] → an 8-bit RGB PNG, through Qt as the app's images are."""
    from PySide6.QtGui import QImage  # PNG is built into QtGui: no application needed

    pixels = np.ascontiguousarray((x.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    h, w, _ = pixels.shape
    image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path)):
        raise OSError(f"could not write {path}")


def predict(net, x):
    """Class indices for (N, C, H, W) inputs already normalised."""
    return net.forward(x)[net.layers[-1].name].reshape(len(x), -1).argmax(axis=1)


def write_samples(net, folder, log=print):
    """One held-out picture per class, the first of its class that the network gets right
    with a clear margin, read back through the app's loader to check it."""
    from convscope.gui.images import load_image

    x, y = make_data(20 * len(CLASSES), SAMPLE_SEED)
    mean = np.asarray(net.input.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(net.input.std, np.float32).reshape(1, -1, 1, 1)
    scores = net.forward((x - mean) / std)[net.layers[-1].name].reshape(len(x), -1)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    for k, name in enumerate(CLASSES):
        sure = np.flatnonzero((y == k) & (probs.argmax(axis=1) == k) & (probs[:, k] > 0.95))
        path = folder / f"{NAME}-{name}.png"
        save_png(path, x[sure[0]])
        got = CLASSES[int(predict(net, load_image(path, net.input)[None])[0])]
        if got != name:
            raise RuntimeError(f"{path.name} reads back as {got}")
        log(f"{path.name}: p = {probs[sure[0], k]:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets",
                        help="the assets folder to write into (default: the project's)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    net, accuracy = train()
    log_time = time.perf_counter() - start
    architectures = args.out / "architectures"
    architectures.mkdir(parents=True, exist_ok=True)
    net.save(architectures / f"{NAME}.json", with_weights=True)
    (architectures / f"{NAME}.labels.txt").write_text("\n".join(CLASSES) + "\n", "utf-8")
    write_samples(net, args.out / "images" / "samples")
    print(f"held-out accuracy {accuracy:.4f}; trained in {log_time:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
