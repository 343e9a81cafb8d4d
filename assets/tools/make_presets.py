#!/usr/bin/env python3
"""Generate the bundled preset architectures in assets/architectures/.

Plain standard-library Python; run it from anywhere:

    python3 assets/tools/make_presets.py

Every file follows the ConvScope architecture format (format "convscope", version 1).
The "description" key is an extension that records where each network comes from.
Output is deterministic: same key order, 2-space indent, trailing newline.
"""

import json
import os

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "architectures")

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


# ---------------------------------------------------------------- layer helpers

# floor=True writes "floor": "intended": the original network floors there on purpose (a
# stride-2 window on an even map), so ConvScope shows the arithmetic as a note, not a warning.

def conv(name, filters, kernel, stride=1, padding=0, bias=True, floor=False, groups=1):
    layer = {"type": "conv", "name": name, "filters": filters, "kernel": kernel}
    if stride != 1:
        layer["stride"] = stride
    if padding != 0:
        layer["padding"] = padding
    if groups != 1:
        layer["groups"] = groups
    if not bias:
        layer["bias"] = False
    if floor:
        layer["floor"] = "intended"
    return layer


def pool(name, mode, kernel, stride, padding=0, ceil_mode=False, floor=False):
    layer = {"type": "pool", "name": name, "mode": mode, "kernel": kernel, "stride": stride}
    if padding != 0:
        layer["padding"] = padding
    if ceil_mode:
        layer["ceil_mode"] = True
    if floor:
        layer["floor"] = "intended"
    return layer


def lrn(name, size=5, alpha=1e-4, beta=0.75, k=2.0):
    return {"type": "lrn", "name": name, "size": size, "alpha": alpha, "beta": beta, "k": k}


def fc(name, units):
    return {"type": "fc", "name": name, "units": units}


def simple(type_, name):
    return {"type": type_, "name": name}


def relu(name):
    return simple("relu", name)


def tanh(name):
    return simple("tanh", name)


def bn(name):
    return simple("batchnorm", name)


def gap(name):
    return simple("global_avg_pool", name)


def dropout(name, rate=0.5):
    return {"type": "dropout", "name": name, "rate": rate}


def network(name, description, channels, height, width, layers, mean=None, std=None):
    inp = {"channels": channels, "height": height, "width": width}
    if mean is not None:
        inp["mean"] = mean
        inp["std"] = std
    return {
        "format": "convscope",
        "version": 1,
        "name": name,
        "description": description,
        "input": inp,
        "seed": 0,
        "layers": layers,
    }


# ---------------------------------------------------------------- LeNet-5

def lenet5():
    layers = [
        conv("c1", 6, 5), tanh("c1_tanh"),
        pool("s2", "avg", 2, 2),
        conv("c3", 16, 5), tanh("c3_tanh"),
        pool("s4", "avg", 2, 2),
        fc("c5", 120), tanh("c5_tanh"),
        fc("f6", 84), tanh("f6_tanh"),
        fc("output", 10),
    ]
    desc = ("LeNet-5 from LeCun et al. 1998, 'Gradient-based learning applied to document "
            "recognition', Fig. 2 (C1-S2-C3-S4-C5-F6-OUTPUT) on a 32x32 input. Simplified as "
            "usually taught: S2/S4 are plain 2x2 average pools (no trainable coefficient), C3 "
            "connects to all 6 maps instead of Table I's partial scheme, C5 is written as an fc "
            "(the same as a 5x5 conv on a 5x5 map), plain tanh, and OUTPUT is an fc layer "
            "instead of RBF units.")
    return network("LeNet-5", desc, 1, 32, 32, layers, mean=[0.5], std=[0.5])


# ---------------------------------------------------------------- AlexNet

def alexnet():
    layers = [
        conv("conv1", 96, 11, stride=4), relu("relu1"),
        pool("pool1", "max", 3, 2),
        lrn("norm1"),
        conv("conv2", 256, 5, padding=2), relu("relu2"),
        pool("pool2", "max", 3, 2),
        lrn("norm2"),
        conv("conv3", 384, 3, padding=1), relu("relu3"),
        conv("conv4", 384, 3, padding=1), relu("relu4"),
        conv("conv5", 256, 3, padding=1), relu("relu5"),
        pool("pool5", "max", 3, 2),
        dropout("drop6"),
        fc("fc6", 4096), relu("relu6"),
        dropout("drop7"),
        fc("fc7", 4096), relu("relu7"),
        fc("fc8", 1000),
    ]
    desc = ("AlexNet (Krizhevsky, Sutskever & Hinton 2012, Fig. 2) as the CS231n notes describe "
            "it: a single tower (the two GPU halves merged, no grouped convolutions) on a "
            "227x227 input so that conv1's 11x11/4 gives 55x55x96. LRN after pool1 and pool2 "
            "with the paper's size 5, alpha 1e-4, beta 0.75, k 2; dropout before fc6 and fc7 "
            "as torchvision places it.")
    return network("AlexNet", desc, 3, 227, 227, layers, **IMAGENET)


def alexnet_two_tower():
    """The paper's own network: conv2, conv4 and conv5 see only their own GPU's half of
    the maps below (groups 2); conv3 and the fc layers see both halves."""
    layers = [
        conv("conv1", 96, 11, stride=4), relu("relu1"),
        lrn("norm1"),
        pool("pool1", "max", 3, 2),
        conv("conv2", 256, 5, padding=2, groups=2), relu("relu2"),
        lrn("norm2"),
        pool("pool2", "max", 3, 2),
        conv("conv3", 384, 3, padding=1), relu("relu3"),
        conv("conv4", 384, 3, padding=1, groups=2), relu("relu4"),
        conv("conv5", 256, 3, padding=1, groups=2), relu("relu5"),
        pool("pool5", "max", 3, 2),
        fc("fc6", 4096), relu("relu6"), dropout("drop6"),
        fc("fc7", 4096), relu("relu7"), dropout("drop7"),
        fc("fc8", 1000),
    ]
    desc = ("AlexNet as trained in Krizhevsky, Sutskever & Hinton 2012, Fig. 2: two towers, "
            "one per GPU. conv2, conv4 and conv5 take only the 48, 192 and 192 maps of "
            "their own tower (groups 2), while conv3 and the fc layers read both; "
            "60,965,224 parameters against the single tower's 62,378,344. The paper's "
            "order (LRN after the ReLU of conv1 and conv2, then 3x3/2 max pooling), "
            "dropout after the ReLUs of fc6 and fc7 as in the BVLC Caffe model, on a "
            "227x227 input so that conv1's 11x11/4 gives 55x55x96.")
    return network("AlexNet (two towers)", desc, 3, 227, 227, layers, **IMAGENET)


# ---------------------------------------------------------------- ZFNet

def zfnet():
    layers = [
        conv("conv1", 96, 7, stride=2, padding=1, floor=True), relu("relu1"),
        pool("pool1", "max", 3, 2, ceil_mode=True),
        lrn("norm1"),
        conv("conv2", 256, 5, stride=2), relu("relu2"),
        pool("pool2", "max", 3, 2, ceil_mode=True),
        lrn("norm2"),
        conv("conv3", 384, 3, padding=1), relu("relu3"),
        conv("conv4", 384, 3, padding=1), relu("relu4"),
        conv("conv5", 256, 3, padding=1), relu("relu5"),
        pool("pool5", "max", 3, 2, ceil_mode=True),
        dropout("drop6"),
        fc("fc6", 4096), relu("relu6"),
        dropout("drop7"),
        fc("fc7", 4096), relu("relu7"),
        fc("fc8", 1000),
    ]
    desc = ("ZFNet from Zeiler & Fergus 2013, 'Visualizing and Understanding Convolutional "
            "Networks', Fig. 3: 224x224 input, conv1 7x7/2 and conv2 5x5/2, giving the "
            "figure's 110, 55, 26, 13, 13, 13 and 6x6x256 maps. Padding 1 on conv1 and "
            "ceil_mode pooling are chosen to reproduce those sizes; contrast normalisation "
            "is written as AlexNet-style LRN.")
    return network("ZFNet", desc, 3, 224, 224, layers, **IMAGENET)


# ---------------------------------------------------------------- VGG16

def vgg16():
    stages = [(1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3)]
    layers = []
    for s, filters, n in stages:
        for i in range(1, n + 1):
            layers.append(conv("conv%d_%d" % (s, i), filters, 3, padding=1))
            layers.append(relu("relu%d_%d" % (s, i)))
        layers.append(pool("pool%d" % s, "max", 2, 2))
    layers += [
        fc("fc6", 4096), relu("relu6"), dropout("drop6"),
        fc("fc7", 4096), relu("relu7"), dropout("drop7"),
        fc("fc8", 1000),
    ]
    desc = ("VGG-16, configuration D of Simonyan & Zisserman 2014, Table 1: thirteen 3x3 "
            "convolutions (padding 1) in five stages with 2x2/2 max pools, then fc6, fc7, fc8. "
            "ReLU and dropout after fc6 and fc7 as torchvision's vgg16; no softmax, so fc8 "
            "gives the logits.")
    return network("VGG16", desc, 3, 224, 224, layers, **IMAGENET)


# ---------------------------------------------------------------- GoogLeNet

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTION = [
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


def inception(tag, c1, r3, c3, r5, c5, pp):
    p = "inception_%s_" % tag
    branches = [
        [conv(p + "1x1", c1, 1), relu(p + "relu_1x1")],
        [conv(p + "3x3_reduce", r3, 1), relu(p + "relu_3x3_reduce"),
         conv(p + "3x3", c3, 3, padding=1), relu(p + "relu_3x3")],
        [conv(p + "5x5_reduce", r5, 1), relu(p + "relu_5x5_reduce"),
         conv(p + "5x5", c5, 5, padding=2), relu(p + "relu_5x5")],
        [pool(p + "pool", "max", 3, 1, padding=1),
         conv(p + "pool_proj", pp, 1), relu(p + "relu_pool_proj")],
    ]
    return {"type": "concat", "name": "inception_" + tag, "branches": branches}


def googlenet():
    blocks = {row[0]: inception(*row) for row in INCEPTION}
    layers = [
        conv("conv1_7x7_s2", 64, 7, stride=2, padding=3, floor=True), relu("conv1_relu_7x7"),
        pool("pool1_3x3_s2", "max", 3, 2, ceil_mode=True),
        lrn("pool1_norm1"),
        conv("conv2_3x3_reduce", 64, 1), relu("conv2_relu_3x3_reduce"),
        conv("conv2_3x3", 192, 3, padding=1), relu("conv2_relu_3x3"),
        lrn("conv2_norm2"),
        pool("pool2_3x3_s2", "max", 3, 2, ceil_mode=True),
        blocks["3a"], blocks["3b"],
        pool("pool3_3x3_s2", "max", 3, 2, ceil_mode=True),
        blocks["4a"], blocks["4b"], blocks["4c"], blocks["4d"], blocks["4e"],
        pool("pool4_3x3_s2", "max", 3, 2, ceil_mode=True),
        blocks["5a"], blocks["5b"],
        gap("pool5_7x7_s1"),
        dropout("pool5_drop_7x7_s1", 0.4),
        fc("loss3_classifier", 1000),
    ]
    desc = ("GoogLeNet (Inception v1) from Szegedy et al. 2014, 'Going Deeper with "
            "Convolutions', Table 1, with the channel counts of that table and layer names of "
            "the BVLC Caffe model ('/' written as '_'). The 5x5 branches are true 5x5 "
            "convolutions (torchvision uses 3x3 there), ceil_mode pools give 112-56-28-14-7; "
            "no batchnorm and no auxiliary classifiers.")
    return network("GoogLeNet", desc, 3, 224, 224, layers, **IMAGENET)


# ---------------------------------------------------------------- ResNets

def basic_block(p, in_ch, planes, stride):
    body = [
        conv(p + "_conv1", planes, 3, stride=stride, padding=1, bias=False, floor=stride == 2),
        bn(p + "_bn1"), relu(p + "_relu1"),
        conv(p + "_conv2", planes, 3, padding=1, bias=False),
        bn(p + "_bn2"),
    ]
    return body, planes


def bottleneck_block(p, in_ch, planes, stride):
    out = planes * 4
    body = [
        conv(p + "_conv1", planes, 1, bias=False), bn(p + "_bn1"), relu(p + "_relu1"),
        conv(p + "_conv2", planes, 3, stride=stride, padding=1, bias=False, floor=stride == 2),
        bn(p + "_bn2"), relu(p + "_relu2"),
        conv(p + "_conv3", out, 1, bias=False), bn(p + "_bn3"),
    ]
    return body, out


def resnet(depth, block, counts):
    make = basic_block if block == "basic" else bottleneck_block
    layers = [
        conv("conv1", 64, 7, stride=2, padding=3, bias=False, floor=True),
        bn("bn1"), relu("relu"),
        pool("maxpool", "max", 3, 2, padding=1, floor=True),
    ]
    in_ch = 64
    for stage, (planes, n) in enumerate(zip([64, 128, 256, 512], counts), start=1):
        for b in range(n):
            stride = 2 if (stage > 1 and b == 0) else 1
            p = "layer%d_%d" % (stage, b)
            body, out_ch = make(p, in_ch, planes, stride)
            shortcut = []
            if stride != 1 or in_ch != out_ch:
                shortcut = [
                    conv(p + "_downsample_0", out_ch, 1, stride=stride, bias=False,
                         floor=stride == 2),
                    bn(p + "_downsample_1"),
                ]
            layers.append({"type": "residual", "name": p, "body": body, "shortcut": shortcut})
            layers.append(relu(p + "_relu"))
            in_ch = out_ch
    layers += [gap("avgpool"), fc("fc", 1000)]
    kind = "BasicBlock" if block == "basic" else "Bottleneck (expansion 4)"
    desc = ("ResNet-%d from He et al. 2015, 'Deep Residual Learning for Image Recognition', "
            "Table 1, built exactly as torchvision's resnet%d: %s stages %s, bias-free convs "
            "with batchnorm, 1x1 projection shortcuts (option B) only where the shape changes, "
            "and the ReLU applied after each addition. Names follow torchvision's state_dict "
            "with '.' written as '_'." % (depth, depth, kind, counts))
    if block != "basic":
        desc += (" The stride-2 sits on the 3x3 conv of each bottleneck (torchvision's "
                 "'v1.5'), not on the first 1x1 as in the paper.")
    return network("ResNet-%d" % depth, desc, 3, 224, 224, layers, **IMAGENET)


# ---------------------------------------------------------------- main

PRESETS = [
    ("lenet5.json", lenet5),
    ("alexnet.json", alexnet),
    ("alexnet_two_tower.json", alexnet_two_tower),
    ("zfnet.json", zfnet),
    ("vgg16.json", vgg16),
    ("googlenet.json", googlenet),
    ("resnet18.json", lambda: resnet(18, "basic", [2, 2, 2, 2])),
    ("resnet34.json", lambda: resnet(34, "basic", [3, 4, 6, 3])),
    ("resnet50.json", lambda: resnet(50, "bottleneck", [3, 4, 6, 3])),
]


def main():
    out_dir = os.path.normpath(OUT_DIR)
    os.makedirs(out_dir, exist_ok=True)
    for filename, build in PRESETS:
        path = os.path.join(out_dir, filename)
        text = json.dumps(build(), indent=2) + "\n"
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print("wrote", path)


if __name__ == "__main__":
    main()
