"""Grad-CAM, guided backprop and guided Grad-CAM against hand-worked numbers, torch's
autograd (a guided ReLU as a torch autograd Function), torch's bilinear resize, and the
trained shapes network's own pictures."""

import numpy as np
import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.labels import read_labels
from convscope.core.presets import ARCHITECTURES
from convscope.core.understand.gradcam import (
    default_layer,
    gradcam,
    guided_backprop,
    spatial_layers,
    upsample,
)
from convscope.core.understand.saliency import saliency
from convscope.gui.images import load_image
from optional import needs_torch

TRAINED = ARCHITECTURES / "shapes_cnn.json"
SAMPLES = ARCHITECTURES.parent / "images" / "samples"


def network(layers, c=2, size=6, seed=4):
    return Network.from_dict({"format": "convscope", "version": 1, "name": "small",
                              "input": {"channels": c, "height": size, "width": size},
                              "seed": seed, "layers": layers})


def gap_net():
    """conv → relu → conv → relu → global average pool → fc, random weights and biases."""
    net = network([{"type": "conv", "name": "conv1", "filters": 4, "kernel": 3, "padding": 1},
                   {"type": "relu", "name": "relu1"},
                   {"type": "conv", "name": "conv2", "filters": 5, "kernel": 3, "padding": 1},
                   {"type": "relu", "name": "relu2"},
                   {"type": "global_avg_pool", "name": "gap"},
                   {"type": "fc", "name": "fc", "units": 3}])
    net.ensure_weights()
    rng = np.random.default_rng(7)
    for key in ("conv1.bias", "conv2.bias", "fc.bias"):  # nonzero, so the ReLUs cut
        net.weights[key] = rng.standard_normal(net.weights[key].shape).astype(np.float32)
    return net


def test_gradcam_of_a_gap_fc_head_is_the_hand_weighted_sum_of_the_last_conv_maps():
    """Through global average pooling then fc, ∂y^c/∂A^k_ij = W[c, k]/(H·W) at every
    (i, j), so α_k = W[c, k]/(H·W) exactly and the map is ReLU(Σ_k W[c, k]/36 · A^k)."""
    net = gap_net()
    x = np.random.default_rng(1).standard_normal((2, 6, 6)).astype(np.float32)
    maps = net.forward(x[None])["relu2"][0]  # (5, 6, 6): the last conv's rectified maps
    weight = net.weights["fc.weight"]  # (3, 5)
    assert default_layer(net) == "relu2"
    cams = []
    for c in range(3):
        result = gradcam(net, x, c)
        alphas = weight[c].astype(np.float64) / 36
        cam = np.maximum(np.tensordot(alphas, maps.astype(np.float64), axes=1), 0)
        assert result["layer"] == "relu2" and result["class"] == c
        np.testing.assert_allclose(result["alphas"], alphas, rtol=0, atol=1e-7)
        np.testing.assert_allclose(result["gradients"], np.broadcast_to(
            alphas[:, None, None], (5, 6, 6)), rtol=0, atol=1e-7)
        np.testing.assert_allclose(result["cam"], cam, rtol=0, atol=1e-5)
        assert result["raw_max"] == pytest.approx(cam.max(), abs=1e-5)
        assert result["raw_min"] == pytest.approx(cam.min(), abs=1e-5)
        # stride 1 and "same" padding: unit (i, j) is centred on pixel (i, j), so the map
        # at the input's size is the layer's own
        np.testing.assert_allclose(result["upsampled"], result["cam"], rtol=0, atol=1e-6)
        order = np.argsort(-weight[c], kind="stable")
        assert [k for k, _ in result["top_channels"]] == list(order)
        cams.append(cam)
    # not a trivial case: class 0's map is cut by the ReLU in places and positive in others
    assert np.any(cams[0] == 0) and cams[0].max() > 0
    scores = net.forward(x[None])["fc"][0, :, 0, 0].astype(np.float64)
    top = gradcam(net, x)  # the default class: the top score, with its softmax probability
    assert top["class"] == int(np.argmax(scores))
    assert top["score"] == pytest.approx(scores.max(), rel=1e-6)
    assert top["probability"] == pytest.approx(
        np.exp(scores.max()) / np.exp(scores).sum(), rel=1e-5)


def test_plain_saliency_beside_gradcam_is_the_saliency_of_the_same_class():
    net = gap_net()
    x = np.random.default_rng(2).standard_normal((2, 6, 6)).astype(np.float32)
    result = gradcam(net, x, 1, "relu1")
    np.testing.assert_allclose(result["saliency"], saliency(net, x, "fc", 1)["gradient"],
                               rtol=1e-5, atol=1e-7)


def test_guided_backprop_on_a_hand_worked_case():
    """x = (1, 2); h = W1·x = (1, 2, 3, −3); y = (1, −2, 3, 5)·relu(h).
    Plain: ∂y/∂h = (1, −2, 3, 0) (the last relu is off), ∂y/∂x = W1ᵀ·that = (4, 1).
    Guided: the −2 is stopped too, (1, 0, 3, 0), so ∂y/∂x = (4, 3)."""
    net = network([{"type": "fc", "name": "hidden", "units": 4, "bias": False},
                   {"type": "relu", "name": "relu"},
                   {"type": "fc", "name": "score", "units": 1, "bias": False}], size=1)
    net.set_weights({"hidden.weight": np.array([[1, 0], [0, 1], [1, 1], [-1, -1]], np.float32),
                     "score.weight": np.array([[1, -2, 3, 5]], np.float32)})
    x = np.array([1, 2], np.float32).reshape(2, 1, 1)
    np.testing.assert_array_equal(guided_backprop(net, x, 0)[:, 0, 0], [4, 3])
    np.testing.assert_array_equal(saliency(net, x, "score", 0)["gradient"][:, 0, 0], [4, 1])


def test_upsampling_between_receptive_field_centres_by_hand_and_as_torch_bilinear():
    """A 2×2 pool of stride 2 centres unit i on pixel 2i + 0.5: a 2-unit row (a, b) over 4
    pixels is (a, ¾a + ¼b, ¼a + ¾b, b), which is torch's bilinear, align_corners=False."""
    cam = np.array([[1.0, 5.0], [3.0, 9.0]], np.float32)
    centres = (np.array([0.5, 2.5]), np.array([0.5, 2.5]))
    out = upsample(cam, centres, (4, 4))
    np.testing.assert_allclose(out[0], [1, 2, 4, 5])
    np.testing.assert_allclose(out[:, 0], [1, 1.5, 2.5, 3])
    net = network([{"type": "conv", "name": "conv", "filters": 3, "kernel": 3, "padding": 1},
                   {"type": "relu", "name": "relu"},
                   {"type": "pool", "name": "pool", "kernel": 2},
                   {"type": "conv", "name": "conv2", "filters": 3, "kernel": 3, "padding": 1},
                   {"type": "pool", "name": "pool2", "kernel": 2},
                   {"type": "fc", "name": "fc", "units": 2}], size=12)
    result = gradcam(net, np.random.default_rng(3).standard_normal((2, 12, 12)), 0, "conv2")
    np.testing.assert_allclose(result["centres"][0], [0.5, 2.5, 4.5, 6.5, 8.5, 10.5])
    torch = needs_torch()
    resized = torch.nn.functional.interpolate(torch.tensor(result["cam"])[None, None],
                                              size=(12, 12), mode="bilinear",
                                              align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(result["upsampled"], resized, rtol=1e-5, atol=1e-6)


def test_layers_offered_and_refused():
    net = gap_net()
    assert spatial_layers(net) == ["conv1", "relu1", "conv2", "relu2"]
    x = np.zeros((2, 6, 6), np.float32)
    with pytest.raises(ConvScopeError, match="'gap' is not a top-level layer with spatial"):
        gradcam(net, x, 0, "gap")
    with pytest.raises(ConvScopeError, match="the class must be from 0 to 2, got 3"):
        gradcam(net, x, 3)
    fc_only = network([{"type": "fc", "name": "fc", "units": 3}])
    with pytest.raises(ConvScopeError, match="no layer before the scores has spatial maps"):
        gradcam(fc_only, x)
    spatial_out = network([{"type": "conv", "name": "conv", "filters": 3, "kernel": 1}])
    with pytest.raises(ConvScopeError, match=r"'conv' gives 6×6×3: Grad-CAM needs class "):
        gradcam(spatial_out, x)
    # a final softmax: the scores are the layer before it, as Grad-CAM takes them
    with_softmax = gap_net()
    with_softmax.layers.append(Network.from_dict({
        "format": "convscope", "version": 1, "input": {"channels": 1, "height": 1,
                                                        "width": 1},
        "layers": [{"type": "softmax", "name": "prob"}]}).layers[0])
    result = gradcam(with_softmax, np.ones((2, 6, 6), np.float32), 2)
    assert result["score_layer"] == "fc"
    np.testing.assert_allclose(result["cam"], gradcam(gap_net(), np.ones((2, 6, 6)), 2)["cam"])


# ---------------------------------------------------------------------- against torch
def torch_gradcam_and_guided(net, x, layer, c):
    """Grad-CAM at ``layer`` and guided backprop of class ``c``, computed by torch autograd
    on the network's generated PyTorch model (every nn.ReLU swapped for a guided one)."""
    torch = needs_torch()
    from torch_reference import model_of

    class GuidedReLUFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * (x > 0) * (grad > 0)

    class GuidedReLU(torch.nn.Module):
        def forward(self, x):
            return GuidedReLUFunction.apply(x)

    model, modules = model_of(net)
    kept = {}

    def keep(_module, _inputs, out):
        out.retain_grad()
        kept["maps"] = out

    hook = model.get_submodule(modules[layer]).register_forward_hook(keep)
    image = torch.tensor(np.asarray(x, np.float32)[None], requires_grad=True)
    model(image)[0, c].sum().backward()
    hook.remove()
    maps, grads = kept["maps"][0].detach().numpy(), kept["maps"].grad[0].numpy()
    alphas = grads.mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(alphas, maps, axes=1), 0)
    plain = image.grad[0].numpy()

    for name, module in list(model.named_modules()):  # now every ReLU is a guided one
        if isinstance(module, torch.nn.ReLU):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, GuidedReLU())
    image = torch.tensor(np.asarray(x, np.float32)[None], requires_grad=True)
    model(image)[0, c].sum().backward()
    return alphas, cam, plain, image.grad[0].numpy()


def check_against_torch(net, x, c=None, layer=None, rtol=1e-4):
    """``c``: a class, or None for the top class."""
    result = gradcam(net, x, c, layer)
    alphas, cam, plain, guided = torch_gradcam_and_guided(net, x, result["layer"],
                                                          result["class"])
    for key, want in (("alphas", alphas), ("cam", cam), ("saliency", plain),
                      ("guided", guided)):
        scale = float(np.abs(want).max())
        assert scale > 0, key  # a zero reference would prove nothing
        np.testing.assert_allclose(result[key], want, rtol=0, atol=rtol * scale, err_msg=key)
    assert not np.allclose(result["guided"], result["saliency"], atol=rtol * scale)
    return result


def test_gradcam_and_guided_backprop_through_blocks_match_torch():
    """A residual block (projection shortcut) and a concat block, both after the chosen
    layer and before it, with ReLUs inside them."""
    net = network([
        {"type": "conv", "name": "conv1", "filters": 4, "kernel": 3, "padding": 1},
        {"type": "relu", "name": "relu1"},
        {"type": "residual", "name": "res", "body": [
            {"type": "conv", "name": "b1", "filters": 6, "kernel": 3, "padding": 1},
            {"type": "relu", "name": "b_relu"},
            {"type": "conv", "name": "b2", "filters": 6, "kernel": 3, "padding": 1}],
         "shortcut": [{"type": "conv", "name": "proj", "filters": 6, "kernel": 1}]},
        {"type": "relu", "name": "relu2"},
        {"type": "concat", "name": "cat", "branches": [
            [{"type": "conv", "name": "c1", "filters": 3, "kernel": 1}, {"type": "relu"}],
            [{"type": "pool", "name": "c_pool", "mode": "max", "kernel": 3, "stride": 1,
              "padding": 1}]]},
        {"type": "pool", "name": "pool", "kernel": 2},
        {"type": "fc", "name": "fc", "units": 4}], size=8)
    x = np.random.default_rng(5).standard_normal((2, 8, 8)).astype(np.float32)
    assert default_layer(net) == "cat"  # the last block holding a conv
    check_against_torch(net, x)
    check_against_torch(net, x, 1, layer="relu1")  # two blocks between A and the scores


def test_resnet18_gradcam_matches_torch():
    """The ResNet-18 preset (at 64×64, so numpy's pass takes a second): Grad-CAM at its
    last block's ReLU, whose 2×2 units are centred 32 pixels apart from pixel 0."""
    net = Network.preset("resnet18")
    net.input.height = net.input.width = 64
    x = np.random.default_rng(6).standard_normal((3, 64, 64)).astype(np.float32)
    result = check_against_torch(net, x, rtol=2e-4)
    assert result["layer"] == "layer4_1_relu"
    np.testing.assert_array_equal(result["centres"][0], [0, 32])


def test_shapes_cnn_matches_torch():
    net = Network.load(TRAINED)
    x = load_image(SAMPLES / "shapes_cnn-star.png", net.input)
    check_against_torch(net, x, 5)


# ---------------------------------------------------------------------- the trained network
# Each sample's shape, read off the picture: (top, bottom, left, right), inclusive pixels.
SHAPE_BOXES = {"circle": (5, 27, 3, 27), "ring": (5, 28, 6, 29), "square": (6, 26, 6, 26),
               "triangle": (4, 22, 6, 24), "cross": (3, 24, 4, 25), "star": (3, 27, 3, 27)}


# The triangle's map peaks just left of its left edge (rows 12–16, columns 3–7: the slanted
# edge's outside), so only 34 % of its mass is in its box, which is 35 % of the picture.
OFF_THE_SHAPE = pytest.mark.xfail(strict=True, reason="the triangle's map peaks just "
                                  "outside its left edge")


@pytest.mark.parametrize("name", [pytest.param(n, marks=OFF_THE_SHAPE) if n == "triangle"
                                  else n for n in sorted(SHAPE_BOXES)])
def test_shapes_cnn_gradcam_of_the_true_class_is_denser_on_the_shape(name):
    """On the trained network, the Grad-CAM of the picture's own class (at the default
    layer, relu3, 8×8) puts more of its mass inside the shape's box than the box's share of
    the picture: the map is denser on the shape than off it (circle 85 % of the mass in 56 %
    of the picture, ring 87 % in 56 %, cross 78 % in 47 %, square 54 % in 43 %; the star
    only just: 62 % in 61 %)."""
    net = Network.load(TRAINED)
    labels = read_labels(ARCHITECTURES / "shapes_cnn.labels.txt")
    result = gradcam(net, load_image(SAMPLES / f"shapes_cnn-{name}.png", net.input))
    assert labels[result["class"]] == name and result["layer"] == "relu3"
    top, bottom, left, right = SHAPE_BOXES[name]
    inside = np.zeros((32, 32), bool)
    inside[top:bottom + 1, left:right + 1] = True
    heat = result["map"]
    assert heat[inside].sum() / heat.sum() > inside.mean()
