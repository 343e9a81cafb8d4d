"""The memory budget against figures worked out by hand, and against the spec's VGG16 totals."""

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path
from convscope.core.understand.memory import memory_budget


def small_net():
    return Network.from_dict({
        "format": "convscope", "version": 1, "name": "small",
        "input": {"channels": 1, "height": 8, "width": 8},
        "layers": [{"type": "conv", "name": "conv", "filters": 4, "kernel": 3, "padding": 1},
                   {"type": "relu", "name": "relu"},
                   {"type": "pool", "name": "pool", "kernel": 2},
                   {"type": "fc", "name": "fc", "units": 10}]})


# By hand, for one image (values):
#   input 1×8×8                                 =  64 values
#   conv  4 filters 3×3, padding 1: 8×8×4       = 256 values; weights 4·(3·3·1) = 36, +4 biases = 40
#   relu  in place                              =   0 values
#   pool  2×2 / 2: 4×4×4                        =  64 values
#   fc    10 units                              =  10 values; weights 10·64 = 640, +10 biases = 650
#   activations 64 + 256 + 64 + 10 = 394 values; parameters 40 + 650 = 690
# Batch 2, 4 bytes per value, Adam:
#   forward activations   394 · 2 · 4 = 3,152 B   (all of it kept for backward)
#   activation gradients  (256 + 64 + 10) · 2 · 4 = 2,640 B   (the input needs none)
#   parameters            690 · 4 = 2,760 B; their gradients 2,760 B
#   Adam's two moments    2 · 2,760 = 5,520 B
#   total 3,152 + 2,640 + 2,760 + 2,760 + 5,520 = 16,832 B
def test_small_network_by_hand_training_with_adam():
    budget = memory_budget(small_net(), batch=2, dtype_bytes=4, optimizer="adam")
    rows = {r.name: r for r in budget.rows}
    assert [r.name for r in budget.rows] == ["input", "conv", "relu", "pool", "fc"]
    assert [rows[n].forward for n in ("input", "conv", "relu", "pool", "fc")] == [
        512, 2048, 0, 512, 80]  # 64·8, 256·8, in place, 64·8, 10·8
    assert rows["conv"].params == 160 and rows["fc"].params == 2600  # 40·4, 650·4
    assert rows["fc"].optimizer == 5200  # 2 · 2600
    assert budget.totals["forward"] == 3152
    assert budget.totals["kept"] == 3152
    assert budget.totals["activation_grads"] == 2640
    assert budget.totals["params"] == 2760
    assert budget.totals["param_grads"] == 2760
    assert budget.totals["optimizer"] == 5520
    assert budget.total == 16832
    assert budget.fits(16832) and not budget.fits(16831)


# The same network, batch 1, float16 (2 bytes), SGD with momentum:
#   forward 394 · 2 = 788; gradients 330 · 2 = 660; parameters 690 · 2 = 1,380, gradients
#   1,380, one velocity 1,380 → 788 + 660 + 1,380 · 3 = 5,588 B
# Inference frees each output once the next layer has read it: the parameters plus the
# largest step (the running layer's input, output and scratch), batch 1, float32:
#   conv: input 64·4 = 256, output 256·4 = 1,024, padded copy 10·10·4 = 400, im2col
#         columns (1·3·3) × (8·8) · 4 = 2,304 (built whole: small)   → 3,984
#   relu: 1,024 in + 1,024 out (a new array) = 2,048; pool: 1,024 + 256 = 1,280;
#   fc: 256 + 40 = 296.  Total 690·4 + 3,984 = 6,744 B.
def test_small_network_other_settings_by_hand():
    assert memory_budget(small_net(), 1, 2, "momentum").total == 5588
    assert memory_budget(small_net(), 1, 2, "sgd").total == 5588 - 1380
    inference = memory_budget(small_net(), 1, 4, "adam", training=False)
    assert inference.totals["kept"] == 0 and inference.totals["optimizer"] == 0
    rows = {r.name: r for r in inference.rows}
    assert [rows[n].step for n in ("conv", "relu", "pool", "fc")] == [3984, 2048, 1280, 296]
    assert inference.totals["step_layer"] == "conv" and inference.totals["workspace"] == 0
    assert inference.total == 2760 + 3984 == 6744
    assert "The largest step is conv" in inference.explain


# Per image, training with SGD at 4 bytes: (394 + 330)·4 = 2,896 B grow with the batch;
# 2·2,760 = 5,520 B do not. 100,000 B fit (100,000 − 5,520)/2,896 = 32.6 → 32 images.
def test_largest_batch_that_fits():
    budget = memory_budget(small_net(), batch=3, optimizer="sgd")
    assert budget.per_image == 2896 and budget.fixed == 5520
    assert budget.max_batch(100_000) == 32
    assert memory_budget(small_net(), batch=32).fits(100_000)
    assert not memory_budget(small_net(), batch=33).fits(100_000)
    assert budget.max_batch(5520 + 2895) == 0


def test_explain_says_why_backward_keeps_activations():
    budget = memory_budget(small_net(), batch=2)
    assert "Why backward keeps them" in budget.explain
    # ConvScope's own pass, batch 2, float32: outputs input 512 + conv 2,048 + relu 2,048
    # (a new array) + pool 512 + fc 80 = 5,200 B; at conv's peak 512 + 2,048 alive plus
    # its padded copy 800 and columns 4,608 = 7,968, so scratch 7,968 − 5,200 = 2,768;
    # with the weights 2,760: 10,728 B
    assert ("5.1 KiB of outputs and caches" in budget.explain
            and "2.7 KiB of scratch" in budget.explain
            and "10.5 KiB with the weights" in budget.explain)
    rows = {r.name: r for r in budget.rows}
    assert "conv's dW = dout ⋆ its input" in rows["input"].needed_by
    assert "relu's backward" in rows["conv"].needed_by and "pool" in rows["conv"].needed_by
    assert "the loss" in rows["fc"].needed_by


def test_vgg16_where_the_memory_lives():
    budget = memory_budget(Network.load(preset_path("vgg16")), batch=1, optimizer="sgd")
    # the spec's VGG16 totals: 15,237,608 activations, 138,357,544 parameters
    assert budget.totals["forward"] == 4 * 15_237_608
    assert budget.totals["params"] == 4 * 138_357_544
    # activations early (conv1_1/conv1_2: 224·224·64 each), parameters in fc6 (7·7·512·4096+4096)
    assert budget.largest("forward", 2) == [("conv1_1", 4 * 3_211_264),
                                           ("conv1_2", 4 * 3_211_264)]
    assert budget.largest("params", 1) == [("fc6", 4 * 102_764_544)]
    # the notes' TOTAL line (24M values, 93 MB) does not match their own rows (15.2M)
    assert "15,237,608 × 4 bytes = 61 MB" in budget.explain


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ConvScopeError, match="batch must be"):
        memory_budget(small_net(), batch=0)
    with pytest.raises(ConvScopeError, match="unknown optimizer 'rmsprop'"):
        memory_budget(small_net(), optimizer="rmsprop")
    with pytest.raises(ConvScopeError, match="dtype_bytes"):
        memory_budget(small_net(), dtype_bytes=3)


# VGG16, batch 64, inference, from the notes' table (values per image):
#   parameters 138,357,544 → · 4 bytes
#   the largest step: conv1_2 (or relu1_2 after it): input 224·224·64 = 3,211,264 and output
#   224·224·64 = 3,211,264 values, · 4 bytes · 64 images; its scratch is 0 (the row-shift
#   product writes its output whole, and keeps its copies in workspaces).
#   Workspaces kept between layers (conv1_2, 64 channels: the row-shift product, in bands of
#   one output row at this batch; Winograd F(4×4, 3×3) on conv2_1 … conv4_3, F(2×2) on
#   conv5; a = 6 or 4; bands of tile rows about 4 MiB per image):
#     row shifts and row products, conv1_2: 4 · 64 · 64 · 3 · 224 each       =    11,010,048
#     its stacked weights + their check copy: 2 · 4 · 64 · 64 · 9            =       294,912
#     padded input, conv2_2, in 4 column phases of 28 + 1: 64 · 128 · 114 · 4 · 29 · 4
#                                                                            =   433,324,032
#     tiles, transformed (conv2_1: band of 16 rows of 28 tiles, 64 channels, a² = 36):
#       4 · 64 · 16 · 28 · 36 · 64 each                                      =   264,241,152
#     products and outputs, conv2_1 (64 in, 128 out, band 16 rows of 28 tiles):
#       4 · 64 · 16 · 28 · 36 · 128                                           =   528,482,304
#       4 · 64 · 16 · 28 · 16 · 128                                           =   234,881,024
#     transformed weights + their check copy, 4 · F · C · (a² + 9) per layer: Σ F·C over
#       conv2_1 … conv4_3 = 843,776 (· 45), over conv5_x = 786,432 (· 25)


def test_vgg16_batch_64_inference_by_hand():
    budget = memory_budget(Network.load(preset_path("vgg16")), batch=64, training=False)
    params = 138_357_544 * 4
    pair = (224 * 224 * 64 + 224 * 224 * 64) * 4 * 64
    workspace = (2 * 11_010_048 + 294_912 + 433_324_032 + 2 * 264_241_152 + 528_482_304
                 + 234_881_024 + 4 * 843_776 * 45 + 4 * 786_432 * 25)
    assert budget.totals["step"] == pair
    assert budget.totals["step_layer"] in ("conv1_2", "relu1_1", "relu1_2")
    assert budget.totals["workspace"] == workspace
    assert budget.total == params + pair + workspace  # 3.9 GiB, not the 8.3 GiB of training
    assert budget.total < memory_budget(Network.load(preset_path("vgg16")), batch=64).total


def test_forward_checks_the_network_as_it_is_now():
    """forward keeps its last check while the network stays the same: an edit, a new
    input size or a smaller budget must each be seen by the next pass."""
    import numpy as np

    net = small_net()
    x = np.ones((2, 1, 8, 8), np.float32)
    assert net.forward(x)["fc"].shape == (2, 10, 1, 1)
    net.find("layers[3]").set("units", 7)  # fc 10 → 7 units
    assert net.forward(x)["fc"].shape == (2, 7, 1, 1)
    net.find("layers[0]").set("padding", 0)  # conv 8×8 → 6×6, pool → 3×3, fc reads 36
    assert net.forward(x)["pool"].shape == (2, 4, 3, 3)
    net.memory_budget = 1000  # bytes: the pass above needs more (see the figures at the top)
    with pytest.raises(ConvScopeError, match="over the 0 GiB budget"):
        net.forward(x)
    net.memory_budget = 1 << 30
    net.input.height = net.input.width = 10
    assert net.forward(np.ones((1, 1, 10, 10), np.float32))["pool"].shape == (1, 4, 4, 4)
