"""One backward pass of a class score, keeping what ``Network.backward`` does not return:
the gradient at every layer's output (its dout) and at every layer's input (its dx).

It runs ``RunContext.back`` on the tape of the network's last forward pass with a hook
that records each layer's dout and dx on the way (blocks call ``ctx.back`` on their
branches, so nested layers are recorded too). The parameter
gradients and dx of the input are the ones ``Network.backward`` gives for the same one-hot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from convscope.core.errors import ConvScopeError


@dataclass
class ClassGradients:
    """d(score)/d(everything) for one class score of one image (batch item 0)."""

    layer: str  # the layer whose output holds the score (the last one)
    channel: int  # the class: a channel of that output
    position: tuple  # (y, x) of the score in its map ((0, 0) for a class vector)
    score: float
    douts: dict  # layer name → (C, H, W) d score / d the layer's output
    dins: dict  # layer name → (C, H, W) d score / d the layer's input
    params: dict  # "<layer>.<param>" → gradient, as Network.backward gives
    input: np.ndarray  # (C, H, W) d score / d the network's input


@dataclass
class _Recorded:
    """What one backward pass saw: each layer's dout and dx, the parameter gradients."""

    douts: dict
    dins: dict
    params: dict
    input: np.ndarray


def top_class(scores: np.ndarray) -> int:
    """The channel of (K, H, W) scores with the largest value anywhere."""
    return int(np.argmax(scores.reshape(scores.shape[0], -1).max(axis=1)))


def backward_all(net, grad_out, should_stop=None) -> _Recorded:
    """After ``net.forward``: Network.backward's pass for ``grad_out`` (the last output's
    shape), returning the recorder (douts, dins, params by name; batch kept)."""
    douts, dins = {}, {}

    def record(layer, dout, dx):
        douts[layer.name], dins[layer.name] = dout, dx
        return dx

    grads = net.backward(grad_out, on_back=record, should_stop=should_stop)
    dx = grads.pop("input")
    return _Recorded(douts, dins, grads, dx)


def class_gradients(net, channel: int | None = None, should_stop=None) -> ClassGradients:
    """After ``net.forward``: one backward pass of the score of class ``channel`` (a channel
    of the last layer's output; None: the top class). On a map larger than 1×1 the score is
    the channel's value where it is largest."""
    tape = net.tape
    if tape is None or not net.layers:
        raise ConvScopeError("gradients need a forward pass first")
    last = net.layers[-1].name
    scores = tape[0].outputs[last][0]
    if channel is None:
        channel = top_class(scores)
    if not 0 <= channel < scores.shape[0]:
        raise ConvScopeError(f"class must be from 0 to {scores.shape[0] - 1}, got {channel}",
                             f"gradients of '{last}'")
    y, x = np.unravel_index(int(np.argmax(scores[channel])), scores.shape[1:])
    grad_out = np.zeros(tape[2], np.float32)
    grad_out[0, channel, y, x] = 1.0
    rec = backward_all(net, grad_out, should_stop)
    return ClassGradients(last, int(channel), (int(y), int(x)), float(scores[channel, y, x]),
                          {k: np.asarray(v[0], np.float32) for k, v in rec.douts.items()},
                          {k: np.asarray(v[0], np.float32) for k, v in rec.dins.items()},
                          rec.params, rec.input[0])


def statistics(values: np.ndarray) -> dict:
    """min, max and mean |value| of a gradient (what the gradient maps print)."""
    values = np.asarray(values, np.float64)
    return {"min": float(values.min()), "max": float(values.max()),
            "mean_abs": float(np.abs(values).mean())}
