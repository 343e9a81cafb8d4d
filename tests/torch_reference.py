"""An independent forward pass in PyTorch, layer by layer, for comparing numbers."""

from __future__ import annotations

import numpy as np

torch = None


def _torch():
    global torch
    if torch is None:
        import torch as t

        torch = t
    return torch


def run(net, x, training=False):
    """Every layer's output, by name, computed by torch.nn.functional."""
    t = _torch()
    F = t.nn.functional
    w = {k: t.tensor(v) for k, v in net.weights.items()}
    outs = {}

    def seq(layers, h):
        for layer in layers:
            h = one(layer, h)
            outs[layer.name] = h.detach().numpy()
        return h

    def one(layer, h):
        v, n = layer.values, layer.name
        kind = layer.TYPE
        if kind == "conv":
            return F.conv2d(h, w[f"{n}.weight"], w.get(f"{n}.bias"), layer.pair("stride"),
                            layer.pair_padding(), layer.pair("dilation"), v["groups"])
        if kind == "pool":
            k, s, p = layer.pair("kernel"), layer.stride_pair(), layer.pair("padding")
            if v["mode"] == "max":
                return F.max_pool2d(h, k, s, p, ceil_mode=v["ceil_mode"])
            if v["mode"] == "avg":
                return F.avg_pool2d(h, k, s, p, ceil_mode=v["ceil_mode"],
                                    count_include_pad=v["count_include_pad"])
            hp = F.pad(h, (p[1], p[1], p[0], p[0]))
            return F.lp_pool2d(hp, 2, k, s, ceil_mode=v["ceil_mode"])
        if kind == "relu":
            return F.relu(h)
        if kind == "leaky_relu":
            return F.leaky_relu(h, v["negative_slope"])
        if kind == "sigmoid":
            return t.sigmoid(h)
        if kind == "tanh":
            return t.tanh(h)
        if kind == "softmax":
            return t.softmax(h, 1)
        if kind == "global_avg_pool":
            return h.mean((2, 3), keepdim=True)
        if kind == "lrn":
            return F.local_response_norm(h, v["size"], v["alpha"], v["beta"], v["k"])
        if kind == "batchnorm":
            return F.batch_norm(h, w[f"{n}.running_mean"].clone(), w[f"{n}.running_var"].clone(),
                                w[f"{n}.weight"], w[f"{n}.bias"], training, v["momentum"],
                                v["eps"])
        if kind == "dropout":
            return h
        if kind == "flatten":
            return h.reshape(h.shape[0], -1, 1, 1)
        if kind == "fc":
            out = F.linear(h.reshape(h.shape[0], -1), w[f"{n}.weight"], w.get(f"{n}.bias"))
            return out.reshape(out.shape[0], -1, 1, 1)
        if kind == "residual":
            return seq(v["body"], h) + seq(v["shortcut"], h)
        if kind == "concat":
            return t.cat([seq(b, h) for b in v["branches"]], 1)
        raise NotImplementedError(kind)

    with t.no_grad():
        seq(net.layers, t.tensor(np.asarray(x, np.float32)))
    return outs
