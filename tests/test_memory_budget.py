"""The memory budget against figures worked out by hand, and against the spec's VGG16 totals."""

import pytest

from core import ConvScopeError, Network
from core.presets import preset_path
from core.understand.memory import memory_budget


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
# Inference: only the forward activations and the parameters: 394·4 + 690·4 = 4,336 B.
def test_small_network_other_settings_by_hand():
    assert memory_budget(small_net(), 1, 2, "momentum").total == 5588
    assert memory_budget(small_net(), 1, 2, "sgd").total == 5588 - 1380
    inference = memory_budget(small_net(), 1, 4, "adam", training=False)
    assert inference.totals["kept"] == 0 and inference.totals["optimizer"] == 0
    assert inference.total == 4336


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
