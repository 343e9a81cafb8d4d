"""Training: the loss and optimisers by hand, a short run on the generated digits that must
learn, and a run paused/stopped and resumed that ends exactly where an uninterrupted one does."""

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.datasets import class_names, generated_digits, sklearn_digits, split
from convscope.core.train import SGD, Adam, Momentum, TrainConfig, Trainer, softmax_cross_entropy


def small_net(dropout=False, classes=10):
    layers = [{"type": "conv", "filters": 8, "kernel": 5},  # 16 → 12
              {"type": "relu"},
              {"type": "pool", "kernel": 2}]                # 12 → 6
    if dropout:
        layers.append({"type": "dropout", "rate": 0.2})
    layers.append({"type": "fc", "units": classes})
    return Network.from_dict({"format": "convscope", "version": 1, "name": "small",
                              "input": {"channels": 1, "height": 16, "width": 16,
                                        "mean": [0.2], "std": [0.3]},
                              "seed": 1, "layers": layers})


@pytest.fixture(scope="module")
def digits():
    x, y = generated_digits(2400, size=16, seed=5)
    return split(x, y, test_fraction=1 / 6)  # 2,000 to train, 400 to test


# ---------------------------------------------------------------------------- by hand
def test_cross_entropy_by_hand_and_numerically():
    # equal scores over K = 4 classes: p = 1/4 each, loss = log 4; dL/ds = (p − onehot)/N
    loss, grad, _ = softmax_cross_entropy(np.zeros((2, 4, 1, 1)), np.array([1, 3]))
    assert loss == pytest.approx(np.log(4))
    np.testing.assert_allclose(grad[:, :, 0, 0], [[0.125, -0.375, 0.125, 0.125],
                                                  [0.125, 0.125, 0.125, -0.375]])
    scores = np.random.default_rng(0).standard_normal((3, 5))
    labels = np.array([4, 0, 2])
    _, grad, _ = softmax_cross_entropy(scores, labels)
    numeric = np.zeros_like(scores)
    for index in np.ndindex(scores.shape):
        step = np.zeros_like(scores)
        step[index] = 1e-5
        numeric[index] = (softmax_cross_entropy(scores + step, labels)[0]
                          - softmax_cross_entropy(scores - step, labels)[0]) / 2e-5
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_optimizer_steps_by_hand():
    g = {"w.weight": np.array([[2.0, -1.0]], np.float32)}
    p = {"w.weight": np.array([[1.0, 1.0]], np.float32)}
    SGD(lr=0.1).step(p, g)  # 1 − 0.1·2, 1 + 0.1·1
    np.testing.assert_allclose(p["w.weight"], [[0.8, 1.1]], rtol=1e-6)
    p = {"w.weight": np.zeros((1, 2), np.float32)}
    opt = Momentum(lr=0.1, momentum=0.9)
    opt.step(p, g)
    opt.step(p, g)  # v1 = −0.1g, v2 = 0.9·v1 − 0.1g = −0.19g; p = v1 + v2 = −0.29g
    np.testing.assert_allclose(p["w.weight"], [[-0.58, 0.29]], rtol=1e-5)
    p = {"w.weight": np.zeros((1, 2), np.float32)}
    Adam(lr=0.01).step(p, g)  # bias-corrected m̂ = g, v̂ = g²: the first step is lr·sign(g)
    np.testing.assert_allclose(p["w.weight"], [[-0.01, 0.01]], rtol=1e-4)


# ---------------------------------------------------------------------------- learning
def test_a_short_run_lowers_the_loss_and_beats_chance(digits):
    x_train, y_train, x_test, y_test = digits
    net = small_net()
    trainer = Trainer(net, x_train, y_train, x_test, y_test,
                      TrainConfig(optimizer="momentum", lr=0.05, batch_size=50, epochs=2))
    start_loss, start_accuracy = trainer.evaluate()
    seen = []
    assert trainer.run(callback=seen.append) == "finished"
    assert len(seen) == trainer.total_steps == 80  # 2,000 / 50 · 2 epochs
    assert seen[-1].step == 80 and seen[-1].epoch == 2.0
    loss, accuracy = trainer.evaluate()
    assert loss < 0.5 * start_loss
    assert accuracy > 0.5  # chance is 1 in 10: five times chance
    assert np.mean(trainer.history.loss[-10:]) < np.mean(trainer.history.loss[:10])
    assert trainer.history.test_steps == [40, 80]  # evaluated at the end of each epoch


def _final_weights(trainer):
    return {k: v.copy() for k, v in trainer.net.weights.items()}


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_pause_and_resume_match_an_uninterrupted_run(digits, optimizer):
    x_train, y_train, x_test, y_test = digits
    config = dict(optimizer=optimizer, lr=0.01, batch_size=100, epochs=2, seed=7, lr_decay=0.5)
    x_train, y_train = x_train[:600], y_train[:600]  # 6 steps per epoch, 12 in all

    whole = Trainer(small_net(dropout=True), x_train, y_train, x_test, y_test,
                    TrainConfig(**config))
    whole.run()

    # Paused from inside a callback (as the GUI's pause button would), then resumed.
    paused = Trainer(small_net(dropout=True), x_train, y_train, x_test, y_test,
                     TrainConfig(**config))
    assert paused.run(callback=lambda p: p.step == 5 and paused.pause()) == "paused"
    assert paused.step_count == 5
    assert paused.run(max_steps=3) == "chunk" and paused.step_count == 8
    assert paused.run(callback=lambda p: paused.stop()) == "stopped"
    assert paused.step_count == 9
    assert paused.run() == "finished"

    # Stopped at step 4, its state kept, and continued by a new trainer on a fresh network.
    first = Trainer(small_net(dropout=True), x_train, y_train, x_test, y_test,
                    TrainConfig(**config))
    first.run(max_steps=4)
    state = first.state_dict()
    second = Trainer(small_net(dropout=True), x_train, y_train, x_test, y_test,
                     TrainConfig(**config))
    second.load_state_dict(state)
    assert second.step_count == 4
    assert second.run() == "finished"

    expected = _final_weights(whole)
    for other in (paused, second):
        got = _final_weights(other)
        assert got.keys() == expected.keys()
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
        assert other.history.loss == whole.history.loss
    # and the run did move the weights away from their initial values
    fresh = small_net(dropout=True)
    fresh.ensure_weights()
    assert np.abs(expected["conv1.weight"] - fresh.weights["conv1.weight"]).max() > 1e-3


def test_training_refuses_bad_setups_clearly(digits):
    x_train, y_train, _, _ = digits
    with pytest.raises(ConvScopeError, match="gives 5 scores but the labels go up to 9"):
        Trainer(small_net(classes=5), x_train, y_train)
    with pytest.raises(ConvScopeError, match=r"takes \(N, 1, 16, 16\)"):
        Trainer(small_net(), np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, int))
    with pytest.raises(ConvScopeError, match="unknown optimizer"):
        Trainer(small_net(), x_train, y_train, config=TrainConfig(optimizer="rmsprop"))


# ---------------------------------------------------------------------------- data
def test_generated_digits_are_balanced_repeatable_and_in_range():
    x, y = generated_digits(300, size=28, seed=3, shapes=True)
    assert x.shape == (300, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [20] * 15 and len(class_names(shapes=True)) == 15
    assert x.min() >= 0 and x.max() <= 1
    again, _ = generated_digits(300, size=28, seed=3, shapes=True)
    np.testing.assert_array_equal(x, again)
    other, _ = generated_digits(300, size=28, seed=4, shapes=True)
    assert not np.array_equal(x, other)
    # every image has ink: a stroke covers a real share of the pixels
    ink = (x > 0.5).mean(axis=(1, 2, 3))
    assert ink.min() > 0.02
    # two different digits differ more on average than two drawings of the same one
    ones, sevens = x[y == 1].mean(axis=0), x[y == 7].mean(axis=0)
    assert np.abs(ones - sevens).mean() > 0.05
    with pytest.raises(ConvScopeError, match="size must be"):
        generated_digits(10, size=4)


def test_sklearn_digits_without_sklearn_is_a_clear_error():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(ConvScopeError, match="scikit-learn is not installed"):
            sklearn_digits()
    else:
        x, y = sklearn_digits(size=16)
        assert x.shape == (1797, 1, 16, 16) and y.max() == 9
