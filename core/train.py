"""Training a network on labelled images: loss, optimisers and a resumable trainer.

Everything runs on ``Network.forward(x, training=True)`` and ``Network.backward``. The
``Trainer`` is built to be driven by a GUI worker as one long job::

    trainer = Trainer(net, x_train, y_train, x_test, y_test,
                      TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=3))
    trainer.run(callback=report)  # report(progress) after every step may call pause()
    # pause(): run() returns after the step in progress; run() again resumes.
    # run(max_steps=n): at most n more steps (a script's or a test's slice of a run).

A run that is paused and resumed gives exactly the same weights as one that is not: the
order of the examples comes from (seed, epoch) and dropout's randomness from (seed, step),
never from where the run was paused.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import ConvScopeError
from .imagefolder import augment
from .layers import Block

OPTIMIZERS = ("sgd", "momentum", "adam")


# ============================================================================ loss
def softmax_cross_entropy(scores, labels):
    """Mean cross-entropy of class scores and its gradient.

    scores: (N, K) or (N, K, 1, 1) logits; labels: (N,) ints in [0, K).
    Returns (loss, dscores with the shape of ``scores``, probabilities (N, K)).
    dL/ds = (softmax(s) − onehot(y)) / N.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[0]
    flat = s.reshape(n, -1)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    rows = np.arange(n)
    loss = -log_probs[rows, labels].mean()
    grad = probs.copy()
    grad[rows, labels] -= 1
    grad /= n
    return float(loss), grad.reshape(np.shape(scores)).astype(np.float32), probs


def nll_of_probabilities(probs, labels):
    """Cross-entropy when the network already ends in a softmax: −mean log p[y].

    probs: (N, K) or (N, K, 1, 1). Returns (loss, dprobs, probs (N, K))."""
    p = np.asarray(probs, dtype=np.float64)
    n = p.shape[0]
    flat = np.maximum(p.reshape(n, -1), 1e-12)
    rows = np.arange(n)
    loss = -np.log(flat[rows, labels]).mean()
    grad = np.zeros_like(flat)
    grad[rows, labels] = -1.0 / (n * flat[rows, labels])
    return float(loss), grad.reshape(np.shape(probs)).astype(np.float32), flat


# ============================================================================ optimisers
class SGD:
    """Plain gradient descent: p ← p − lr·(g + wd·p)."""

    name = "sgd"

    def __init__(self, lr=0.01, weight_decay=0.0):
        self.lr, self.weight_decay = lr, weight_decay

    def step(self, params: dict, grads: dict) -> None:
        """Update every ``params[key]`` that has a gradient, in place."""
        for key, g in grads.items():
            if key in params:
                self._update(key, params[key], self._decayed(key, params[key], g))

    def _decayed(self, key, p, g):
        # L2 decay on weights only; biases and batchnorm's γ, β are left alone
        if self.weight_decay and key.endswith(".weight") and p.ndim > 1:
            return g + np.float32(self.weight_decay) * p
        return g

    def _update(self, key, p, g):
        p -= np.float32(self.lr) * g

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Momentum(SGD):
    """SGD with momentum, as the CS231n notes write it: v ← μ·v − lr·g; p ← p + v."""

    name = "momentum"

    def __init__(self, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = momentum
        self.velocity: dict = {}

    def _update(self, key, p, g):
        v = self.velocity.get(key)
        if v is None:
            v = self.velocity[key] = np.zeros_like(p)
        v *= np.float32(self.momentum)
        v -= np.float32(self.lr) * g
        p += v

    def state_dict(self):
        return {"velocity": {k: v.copy() for k, v in self.velocity.items()}}

    def load_state_dict(self, state):
        self.velocity = {k: v.copy() for k, v in state.get("velocity", {}).items()}


class Adam(SGD):
    """Adam (Kingma & Ba): running means of g and g², bias-corrected, per parameter."""

    name = "adam"

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m: dict = {}
        self.v: dict = {}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        super().step(params, grads)

    def _update(self, key, p, g):
        if key not in self.m:
            self.m[key] = np.zeros_like(p)
            self.v[key] = np.zeros_like(p)
        m, v = self.m[key], self.v[key]
        m *= np.float32(self.beta1)
        m += np.float32(1 - self.beta1) * g
        v *= np.float32(self.beta2)
        v += np.float32(1 - self.beta2) * g * g
        m_hat = m / np.float32(1 - self.beta1 ** self.t)
        v_hat = v / np.float32(1 - self.beta2 ** self.t)
        p -= np.float32(self.lr) * m_hat / (np.sqrt(v_hat) + np.float32(self.eps))

    def state_dict(self):
        return {"t": self.t, "m": {k: a.copy() for k, a in self.m.items()},
                "v": {k: a.copy() for k, a in self.v.items()}}

    def load_state_dict(self, state):
        self.t = state.get("t", 0)
        self.m = {k: a.copy() for k, a in state.get("m", {}).items()}
        self.v = {k: a.copy() for k, a in state.get("v", {}).items()}


def make_optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """An optimiser by name: ``sgd``, ``momentum`` or ``adam``."""
    if name == "sgd":
        return SGD(lr, weight_decay)
    if name == "momentum":
        return Momentum(lr, momentum, weight_decay)
    if name == "adam":
        return Adam(lr, weight_decay=weight_decay)
    raise ConvScopeError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})",
                         "optimizer")


# ============================================================================ the trainer
@dataclass
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 1
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    seed: int = 0
    normalize: bool = True  # apply the network's input mean/std to images in [0, 1]
    eval_every: int = 0  # steps between test evaluations; 0: at the end of every epoch
    eval_limit: int = 2000  # test examples used for an evaluation during training
    flip: bool = False  # augmentation: mirror each training image left-right at random
    crop_padding: int = 0  # augmentation: shift each training image by up to this many pixels

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConvScopeError(f"unknown optimizer {self.optimizer!r} "
                                 f"(known: {', '.join(OPTIMIZERS)})", "training")
        for key in ("batch_size", "epochs"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConvScopeError(f"{key} must be a whole number ≥ 1, got {value!r}",
                                     "training")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 100):
            raise ConvScopeError(f"the learning rate must be between 0 and 100, got {self.lr!r}",
                                 "training")
        if isinstance(self.crop_padding, bool) or not isinstance(self.crop_padding, int) or \
                not 0 <= self.crop_padding <= 64:
            raise ConvScopeError(f"crop_padding must be a whole number from 0 to 64, got "
                                 f"{self.crop_padding!r}", "training")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ConvScopeError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}",
                                 "training")


@dataclass
class Progress:
    """What a callback receives after each step: plain numbers for a progress bar and plots."""

    step: int
    total_steps: int
    epoch: float  # fractional: 1.5 = half-way through the second epoch
    loss: float  # this step's mini-batch loss
    accuracy: float  # this step's mini-batch accuracy
    test_loss: float | None = None  # the latest evaluation, if any
    test_accuracy: float | None = None
    evaluated: bool = False  # True when this step ran an evaluation

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Curves for plotting: steps and values."""

    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    test_steps: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)

    def copy(self) -> History:
        return History(*(list(v) for v in asdict(self).values()))


class Trainer:
    """Mini-batch training of ``net`` on (x_train, y_train), evaluated on (x_test, y_test).

    x: (N, C, H, W) images (in [0, 1] when ``config.normalize`` applies the network's input
    mean/std, as for an image file), y: (N,) int labels. The network's output must be class
    scores (K, 1, 1) with K above every label. ``net.weights`` is updated in place (its arrays
    are copied once at the start, so copies of the network are not changed).
    """

    def __init__(self, net, x_train, y_train, x_test=None, y_test=None,
                 config: TrainConfig | None = None):
        self.net = net
        self.config = config or TrainConfig()
        self.config.check()
        self.x_train, self.y_train = _check_data(net, x_train, y_train, "training data")
        self.x_test = self.y_test = None
        if x_test is not None:
            self.x_test, self.y_test = _check_data(net, x_test, y_test, "test data")
        self._check_output()
        net.ensure_weights()
        net.weights = {k: np.array(v, dtype=np.float32) for k, v in net.weights.items()}
        self.optimizer = make_optimizer(self.config.optimizer, self.config.lr,
                                        self.config.momentum, self.config.weight_decay)
        self.step_count = 0
        self.history = History()
        self.test_loss: float | None = None
        self.test_accuracy: float | None = None
        self._pause = threading.Event()
        self._stop = False
        self._ends_in_softmax = bool(net.layers) and net.layers[-1].TYPE == "softmax"

    # ------------------------------------------------------------------ figures
    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.x_train) // self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    @property
    def epoch(self) -> float:
        return self.step_count / self.steps_per_epoch

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        """Ask a running ``run()`` to return after the step in progress (thread-safe).
        Calling ``run()`` again resumes from the same step."""
        self._pause.set()

    def stop(self) -> None:
        """Like ``pause()``, but ``run()`` reports "stopped": the user ended the run. The
        weights trained so far stay in the network (and ``state_dict()`` can still resume)."""
        self._stop = True
        self._pause.set()

    def run(self, max_steps: int | None = None, callback=None) -> str:
        """Train until the configured epochs are done, ``max_steps`` more steps have run, or
        ``pause()``/``stop()`` is called. ``callback(Progress)`` is called after every step.

        Returns "finished", "chunk" (max_steps reached), "paused" or "stopped"."""
        self._pause.clear()
        self._stop = False
        done = 0
        while not self.finished:
            if self._pause.is_set():
                return "stopped" if self._stop else "paused"
            if max_steps is not None and done >= max_steps:
                return "chunk"
            progress = self.step()
            done += 1
            if callback is not None:
                callback(progress)
        return "finished"

    # ------------------------------------------------------------------ one step
    def batch_indices(self, step: int) -> np.ndarray:
        """The training examples of ``step``: a fresh shuffle every epoch, from (seed, epoch)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.x_train))
        b = self.config.batch_size
        return order[k * b:(k + 1) * b]

    def step(self) -> Progress:
        """One mini-batch: forward, loss, backward, update. Returns the step's figures."""
        if self.finished:
            raise ConvScopeError("training is finished; start a new run to train more",
                                 "training")
        index = self.batch_indices(self.step_count)
        x = self._prepare(self._augmented(self.x_train[index]))
        y = self.y_train[index]
        rng = np.random.default_rng([self.config.seed, self.step_count, 1])
        acts = self.net.forward(x, training=True, rng=rng)
        loss, dscores, probs = self._loss(acts[self.net.layers[-1].name], y)
        grads = self.net.backward(dscores)
        grads.pop("input", None)
        # from the step count, not accumulated, so a resumed run uses the same rate
        epoch = self.step_count // self.steps_per_epoch
        self.optimizer.lr = self.config.lr * self.config.lr_decay ** epoch
        self.optimizer.step(self.net.weights, grads)
        self.step_count += 1
        accuracy = float((probs.argmax(axis=1) == y).mean())
        self.history.steps.append(self.step_count)
        self.history.loss.append(loss)
        self.history.accuracy.append(accuracy)
        evaluated = self._evaluate_now()
        if evaluated:
            self.test_loss, self.test_accuracy = self.evaluate(limit=self.config.eval_limit)
            self.history.test_steps.append(self.step_count)
            self.history.test_loss.append(self.test_loss)
            self.history.test_accuracy.append(self.test_accuracy)
        return Progress(self.step_count, self.total_steps, self.epoch, loss, accuracy,
                        self.test_loss, self.test_accuracy, evaluated)

    def _augmented(self, x) -> np.ndarray:
        """The batch flipped and shifted as the config asks, from (seed, step): a resumed
        run sees the same images."""
        config = self.config
        if not (config.flip or config.crop_padding):
            return x
        rng = np.random.default_rng([config.seed, self.step_count, 2])
        return augment(x, rng, config.flip, config.crop_padding)

    def _evaluate_now(self) -> bool:
        if self.x_test is None:
            return False
        every = self.config.eval_every or self.steps_per_epoch
        return self.step_count % every == 0 or self.finished

    def _loss(self, scores, y):
        if self._ends_in_softmax:
            return nll_of_probabilities(scores, y)
        return softmax_cross_entropy(scores, y)

    def _prepare(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        spec = self.net.input
        if self.config.normalize and spec.mean is not None:
            x = x - np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1)
        if self.config.normalize and spec.std is not None:
            x = x / np.asarray(spec.std, np.float32).reshape(1, -1, 1, 1)
        return x

    # ------------------------------------------------------------------ evaluation
    def predict(self, x, batch_size: int = 500) -> np.ndarray:
        """Class probabilities (N, K) in inference mode."""
        out = []
        for start in range(0, len(x), batch_size):
            chunk = self._prepare(x[start:start + batch_size])
            scores = self.net.forward(chunk)[self.net.layers[-1].name]
            scores = scores.reshape(len(chunk), -1).astype(np.float64)
            if not self._ends_in_softmax:
                scores = np.exp(scores - scores.max(axis=1, keepdims=True))
                scores /= scores.sum(axis=1, keepdims=True)
            out.append(scores)
        return np.concatenate(out)

    def evaluate(self, x=None, y=None, limit: int | None = None) -> tuple[float, float]:
        """(mean loss, accuracy) on (x, y), by default the test set (its first ``limit``)."""
        if x is None:
            if self.x_test is None:
                raise ConvScopeError("no test data to evaluate on", "training")
            x, y = self.x_test, self.y_test
        if limit is not None:
            x, y = x[:limit], y[:limit]
        probs = self.predict(x)
        loss = -np.log(np.maximum(probs[np.arange(len(y)), y], 1e-12)).mean()
        return float(loss), float((probs.argmax(axis=1) == y).mean())

    # ------------------------------------------------------------------ saving the state
    def state_dict(self) -> dict:
        """Everything needed to continue later: weights, optimiser state, step, history."""
        return {"step": self.step_count, "weights": {k: v.copy() for k, v in
                                                     self.net.weights.items()},
                "optimizer": self.optimizer.state_dict(), "history": self.history.copy(),
                "test": (self.test_loss, self.test_accuracy)}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = state["step"]
        self.net.weights = {k: v.copy() for k, v in state["weights"].items()}
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = state["history"].copy()
        self.test_loss, self.test_accuracy = state["test"]

    # ------------------------------------------------------------------ checks
    def _check_output(self) -> None:
        report = self.net.check_runnable(self.config.batch_size)
        out = report.output
        if out is None or out[1:] != (1, 1):
            shown = "unknown" if out is None else f"{out[1]}×{out[2]}×{out[0]}"
            raise ConvScopeError(f"the network's output is {shown}; training needs class "
                                 "scores K×1×1 (end with an fc layer)", "training")
        classes = int(max(self.y_train.max(), -1 if self.y_test is None else self.y_test.max()))
        if out[0] <= classes:
            raise ConvScopeError(f"the network gives {out[0]} scores but the labels go up to "
                                 f"{classes}; set the last layer to {classes + 1} units",
                                 "training")
        if any(isinstance(layer, Block) for layer in self.net.layers[-1:]):
            raise ConvScopeError("the last layer must give the class scores, not a block",
                                 "training")


def _check_data(net, x, y, what):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 4 or tuple(x.shape[1:]) != net.input.shape:
        c, h, w = net.input.shape
        raise ConvScopeError(f"{what} has shape {tuple(x.shape)} but the network takes "
                             f"(N, {c}, {h}, {w})", "training")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ConvScopeError(f"{what}: labels must be {len(x)} whole numbers ≥ 0", "training")
    if len(x) == 0:
        raise ConvScopeError(f"{what} is empty", "training")
    return x, y.astype(np.int64)
