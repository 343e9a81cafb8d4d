"""The case-study cards (core.understand.cases): the notes' claims beside the presets'
figures, with every reason's numbers worked by hand here."""

import pytest
from convscope.core import ConvScopeError, Network
from convscope.core.presets import preset_path
from convscope.core.understand.cases import (
    CHECKS,
    aux_classifier,
    card,
    case_of,
    load_cases,
    rounds_to,
    vgg_table_rows,
    weighted_depth,
)


def preset_card(name):
    return card(Network.load(preset_path(name)))


def test_every_case_study_has_a_card_and_other_networks_none():
    titles = {name: preset_card(name).title for name in (
        "lenet5", "alexnet", "alexnet_two_tower", "zfnet", "googlenet", "vgg16", "resnet18",
        "resnet34", "resnet50")}
    assert set(titles.values()) == {"LeNet", "AlexNet", "ZF Net", "GoogLeNet", "VGGNet",
                                    "ResNet"}
    assert preset_card("shapes_cnn") is None
    assert case_of("my own net") is None


def test_every_claim_quotes_the_notes_and_names_a_known_check():
    notes_words = {"lenet": "邮政编码", "alexnet": "LeNet", "zfnet": "第一层",
                   "googlenet": "4M", "vggnet": "1.4亿", "resnet": "批处理规范化"}
    for case in load_cases()["cases"]:
        assert any(notes_words[case["id"]] in c["quote"] for c in case["claims"])
        for claim in case["claims"]:
            assert claim["check"] in CHECKS
            assert claim["gloss"] and claim["quote"]


def test_rounding_to_the_claims_precision():
    assert rounds_to(138_357_544, 140_000_000)  # 1.4亿: two digits
    assert rounds_to(138_357_544, 138_000_000)  # 138M: three
    assert not rounds_to(138_357_544, 139_000_000)
    assert rounds_to(60_965_224, 60_000_000) and rounds_to(62_378_344, 60_000_000)
    assert not rounds_to(6_998_552, 4_000_000)
    assert not rounds_to(15_237_608, 24_000_000)


def test_figures_are_the_analysis_totals():
    net = Network.load(preset_path("vgg16"))
    t = net.analyze().totals()
    c = card(net)
    assert c.figure("Parameters") == f"{t['params']:,} (138.4M)"
    assert c.figure("Activations per image") == "15,237,608 (15.2M)"
    assert c.figure("Forward memory per image") == "60,950,432 B (61.0 MB = 58.1 MiB)"
    assert c.figure("MACs per image").startswith("15,470,264,320")
    assert c.figure("Depth (conv/fc layers)") == "16"
    assert c.figure("Input") == "224x224x3"
    assert c.figure("Largest layer") == "fc6: 102,764,544 parameters (74.3 %)"


def test_depth_counts_conv_and_fc_on_the_longest_path():
    """VGG16 13 + 3; GoogLeNet 3 stem convs + 9 modules × 2 (reduce, 3×3 or 5×5) + 1 fc =
    22, the paper's 22; ResNet-50 1 + 16 × 3 + 1; ResNet-18 1 + 8 × 2 + 1; LeNet-5 2 + 3."""
    depths = {n: weighted_depth(Network.load(preset_path(n)).analyze().top)
              for n in ("vgg16", "googlenet", "resnet50", "resnet18", "lenet5", "alexnet")}
    assert depths == {"vgg16": 16, "googlenet": 22, "resnet50": 50, "resnet18": 18,
                      "lenet5": 5, "alexnet": 8}


def claims(name):
    return {c.claimed: c for c in preset_card(name).claims}


def test_vgg_table_rows_add_up_to_15_2m_not_24m():
    """The notes' 22 rows, exact: 150,528 + 2·3,211,264 + 802,816 + 2·1,605,632 + 401,408
    + 3·802,816 + 200,704 + 3·401,408 + 100,352 + 3·100,352 + 25,088 + 4,096 + 4,096 + 1,000
    = 15,237,608; as printed (150K, 3.2M, ...): 15,184,192. 24M − 15,237,608 = 8,762,392."""
    by_hand = (150_528 + 2 * 3_211_264 + 802_816 + 2 * 1_605_632 + 401_408 + 3 * 802_816
               + 200_704 + 3 * 401_408 + 100_352 + 3 * 100_352 + 25_088 + 4_096 + 4_096
               + 1_000)
    assert by_hand == 15_237_608
    rows = load_cases()["vgg16_table"]["rows"]
    assert len(rows) == 22
    assert sum(r["memory_value"] for r in rows) == 15_184_192
    report = Network.load(preset_path("vgg16")).analyze()
    ours = vgg_table_rows(report)
    assert [v for _, v in ours] == [r["shape"][0] * r["shape"][1] * r["shape"][2]
                                    for r in rows]
    assert [n for n, _ in ours][:4] == ["input", "conv1_1", "conv1_2", "pool1"]
    total = claims("vgg16")["24M values, 93MB / image"]
    assert total.agrees is False
    for figure in ("22 of 22", "15,237,608", "15,184,192", "8,762,392", "1.58×",
                   "60,950,432 B = 61.0 MB", "96.0 MB = 91.6 MiB"):
        assert figure in total.why, figure
    # the relus kept apart: 13 conv outputs (13,547,520) + fc6's and fc7's 4,096 each
    assert "+13,555,712" in total.why and "28,793,320" in total.why


def test_vgg_params_and_the_first_fc():
    c = claims("vgg16")
    assert c["140M"].agrees and c["138M"].agrees and c["16"].agrees
    first = c["most parameters in the first fc"]
    # 7·7·512·4096 = 102,760,448 weights + 4,096 biases = 102,764,544 of 138,357,544
    assert first.agrees and "102,760,448 weights + 4,096 biases" in first.why
    assert first.measured == "fc6: 102,764,544 (74.3 %)"
    # fc6 + fc7 (16,781,312) + fc8 (4,097,000) = 123,642,856; convs 14,714,688
    assert "123,642,856 (89.4 %)" in first.why and "14,714,688" in first.why


def test_googlenet_4m_worked_out():
    """Stem 9,472 + 4,160 + 110,784 = 124,416; the fc 1024·1000 + 1000 = 1,025,000; the
    modules 6,998,552 − 124,416 − 1,025,000 = 5,849,136. An auxiliary classifier on
    inception_4a (14×14×512): pool 5/3 → 4×4×512, conv 512·128 + 128 = 65,664, fc
    2048·1024 + 1024 = 2,098,176, fc 1,025,000: 3,188,840; on 4d (528 maps) 67,712 for the
    conv: 3,190,888."""
    assert aux_classifier(512, 14) == 65_664 + 2_098_176 + 1_025_000 == 3_188_840
    assert aux_classifier(528, 14) == 3_190_888
    four = claims("googlenet")["4M"]
    assert four.agrees is False and four.measured == "6,998,552"
    for figure in ("124,416 in the 3 stem convs", "5,849,136 in the 9 Inception modules",
                   "1,025,000 in the one fc (1024×1000 weights + 1000 biases)",
                   "Without that fc: 5,973,552", "1.49×", "6,379,728", "8.7×", "(5.1M)",
                   "15×"):
        assert figure in four.why, figure
    head = claims("googlenet")["average pooling, no fc stack at the end"]
    # flattened 7·7·1024 = 50,176 inputs: 50,176·1000 + 1000 = 50,177,000
    assert head.agrees and "50,177,000" in head.why and "49×" in head.why


def test_alexnet_60m_is_the_two_tower_network():
    for name, measured in (("alexnet", "62,378,344"), ("alexnet_two_tower", "60,965,224")):
        sixty = claims(name)["60M"]
        assert sixty.agrees and sixty.measured == measured
        # conv2 256·96·25 − 256·48·25 = 307,200; conv4 384·384·9 − 384·192·9 = 663,552;
        # conv5 256·384·9 − 256·192·9 = 442,368
        assert "307,200 + 663,552 + 442,368 = 1,413,120" in sixty.why


def test_zf_net_first_layer_and_middle_layers():
    c = claims("zfnet")
    first = c["smaller stride and filter in layer 1"]
    assert first.agrees
    assert first.measured == "7×7/2 → 110x110x96 (AlexNet 11×11/4 → 55x55x96)"
    middle = c["wider middle conv layers"]
    # Fig. 3: 885,120 + 1,327,488 + 884,992; widened: 256·512·9 + 512 = 1,180,160,
    # 512·1024·9 + 1024 = 4,719,616, 1024·512·9 + 512 = 4,719,104
    assert middle.agrees is False
    assert "3,097,600" in middle.why and "10,618,880" in middle.why


def test_resnet_skips_batchnorm_and_head():
    c = claims("resnet18")
    skips = c["skip connections, much batchnorm"]
    assert skips.agrees
    assert skips.measured == "8 residual blocks, 20 batchnorm layers for 20 convs"
    assert "5 through the identity, 3 through a 1×1 projection" in skips.why
    head = c["average pooling, no fc stack at the end"]
    # 512·1000 + 1000 = 513,000 of 11,689,512; flattened 25,088·1000 + 1000
    assert head.measured.startswith("1 fc (513,000 params, 4.4 %)")
    assert "25,089,000" in head.why


def test_a_broken_network_is_one_clear_error():
    net = Network.load(preset_path("vgg16"))
    net.input.height = net.input.width = 8
    with pytest.raises(ConvScopeError, match="has an error"):
        card(net)


@pytest.mark.parametrize("name", ["vgg16", "googlenet", "zfnet", "alexnet", "resnet18",
                                  "lenet5"])
def test_a_case_study_edited_away_from_its_structure_still_has_a_card(name):
    """FC→CONV (as the window does it, keeping the name) leaves VGG16 no fc; deleting
    GoogLeNet's inception_4a leaves its 4M check without the layer it reads: those claims
    say "not measurable" instead of failing the panel; the others are still measured."""
    from convscope.core.understand.fcconv import convert_fc_to_conv

    net = Network.load(preset_path(name), weights=False)
    converted, _ = convert_fc_to_conv(net, with_weights=False)
    converted.name = net.name
    if name == "googlenet":
        converted.layers = [layer for layer in converted.layers
                            if layer.name != "inception_4a"]
    result = card(converted)
    assert result is not None and len(result.claims) == len(card(net).claims)
    unmeasured = [c for c in result.claims if c.measured == "not measurable"]
    assert all(not c.agrees and "edited away" in c.why for c in unmeasured)
    if name in ("vgg16", "googlenet"):  # the first-fc share; the 4M breakdown, the fc head
        assert unmeasured
    if name != "googlenet":  # both its claims read the fc head and the modules
        assert any(c.measured != "not measurable" for c in result.claims)
