"""The notes' case studies (LeNet, AlexNet, ZF Net, GoogLeNet, VGGNet, ResNet) as cards: each
claim the notes make, quoted and glossed, beside what ConvScope measures on the bundled
preset, and why the two differ, worked out from the figures (NumPy only, no Qt).

The claims live in ``assets/case_studies.json`` (the quote, its gloss, the claimed number and
the name of the check that measures it); each check here turns the network's analysis
(core.analysis) into the measured side and the reason. ``card(net)`` → ``Card`` or None when
the network is not one of the case studies (matched by the preset's name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from math import floor, log10, prod

from ..analysis import shape_text
from ..errors import ConvScopeError
from ..network import Network
from ..presets import ASSETS, preset_path

CASES_FILE = ASSETS / "case_studies.json"
WEIGHTED = ("conv", "fc")  # the layers the notes count in a network's depth


@dataclass
class Claim:
    quote: str  # the notes' sentence, in Chinese
    gloss: str  # in English
    claimed: str  # the number or statement claimed, as written
    measured: str  # what ConvScope measures on the network
    agrees: bool | None  # None: nothing to compare (a historical remark)
    why: str  # the reason for any difference, from the figures


@dataclass
class Card:
    case: str  # "vggnet"
    title: str  # "VGGNet"
    paper: str
    network: str  # the network measured
    figures: list = field(default_factory=list)  # (label, text)
    claims: list = field(default_factory=list)  # Claim

    def figure(self, label: str) -> str:
        return dict(self.figures)[label]


# ====================================================================== the data
@lru_cache(maxsize=1)
def load_cases() -> dict:
    """The case-study file, checked."""
    try:
        data = json.loads(CASES_FILE.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ConvScopeError(f"cannot read the case studies: {err}", str(CASES_FILE)) from err
    if data.get("format") != "convscope-case-studies" or data.get("version") != 1:
        raise ConvScopeError("not a version-1 case-study file", str(CASES_FILE))
    return data


def case_of(network_name: str) -> dict | None:
    """The case study whose presets include a network called ``network_name``, or None."""
    return next((c for c in load_cases()["cases"] if network_name in c["presets"]), None)


@lru_cache(maxsize=8)
def preset_report(stem: str):
    """The analysis of a bundled preset (the cards compare with other case studies)."""
    return Network.load(preset_path(stem), weights=False).analyze(fixes=False)


# ====================================================================== measuring
def leaves(report) -> list:
    """Every layer that is not a block, in reading order."""
    return [i for i in report.layers if not i.branches]


def weighted_depth(infos) -> int:
    """Conv and fc layers on the longest path (a block counts its deepest branch): the
    notes' '16 CONV/FC layers' of VGG16, GoogLeNet's 22, ResNet-50's 50."""
    depth = 0
    for info in infos:
        if info.branches:
            depth += max(weighted_depth(b) for b in info.branches)
        elif info.type in WEIGHTED:
            depth += 1
    return depth


def params_of(report, kind: str) -> int:
    return sum(i.params for i in leaves(report) if i.type == kind)


def figures(report) -> list:
    """(label, text) of the figures a card shows, from the analysis of one image."""
    t = report.totals()
    last = report.top[-1]
    biggest = max(leaves(report), key=lambda i: i.params)
    return [
        ("Input", shape_text(report.input_shape)),
        ("Depth (conv/fc layers)", str(weighted_depth(report.top))),
        ("Parameters", f"{t['params']:,} ({millions(t['params'])})"),
        ("Activations per image", f"{t['activations']:,} ({millions(t['activations'])})"),
        ("Forward memory per image", f"{t['forward_bytes']:,} B ({mb(t['forward_bytes'])})"),
        ("MACs per image", f"{t['macs']:,} ({t['macs'] / 1e9:.2f} G)"),
        ("Final receptive field", f"{last.receptive_field[0]}×{last.receptive_field[1]} "
                                  f"(jump {last.jump[0]}) at {last.name}"),
        ("Largest layer", f"{biggest.name}: {biggest.params:,} parameters "
                          f"({percent(biggest.params, t['params'])})"),
    ]


def millions(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}K"


def mb(n: int) -> str:
    if n < 1e6:
        return f"{n / 1e3:.1f} KB = {n / 2**10:.1f} KiB"
    return f"{n / 1e6:.1f} MB = {n / 2**20:.1f} MiB"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %"


def rounds_to(measured: int, claimed: int) -> bool:
    """Whether ``measured`` rounded to the significant digits ``claimed`` is written with
    (60M: one, 1.4亿 = 140M: two, 138M: three) gives ``claimed``."""
    digits = len(str(claimed).rstrip("0"))
    scale = 10 ** (floor(log10(measured)) + 1 - digits)
    return round(measured / scale) * scale == claimed


# ====================================================================== the checks
# Each: (claim's data, the network's report) → (claimed, measured, agrees, why).
def check_lenet_digits(claim, report):
    t = report.totals()
    c, h, w = report.input_shape
    return ("(a historical remark)",
            f"{c} channel {h}×{w} input → {report.output[0]} scores; {t['params']:,} params",
            None,
            f"No figure to compare: the preset reads one {h}×{w} grey digit into "
            f"{report.output[0]} class scores with {weighted_depth(report.top)} conv/fc layers.")


def check_deeper_bigger_than(claim, report):
    other = preset_report(claim["other"])
    t, o = report.totals(), other.totals()
    depth, other_depth = weighted_depth(report.top), weighted_depth(other.top)
    return ("deeper and bigger than LeNet",
            f"depth {depth} vs {other_depth}; {t['params']:,} vs {o['params']:,} params",
            depth > other_depth and t["params"] > o["params"],
            f"{depth} conv/fc layers against {other_depth}; {t['params'] / o['params']:,.0f}× "
            f"the parameters, {t['activations'] / o['activations']:,.0f}× the activations and "
            f"{t['macs'] / o['macs']:,.0f}× the MACs per image "
            f"({shape_text(report.input_shape)} input against {shape_text(other.input_shape)}).")


def check_alexnet_60m(claim, report):
    one, two = preset_report("alexnet"), preset_report("alexnet_two_tower")
    p1, p2 = one.totals()["params"], two.totals()["params"]
    grouped = [(i.name, one.by_name(i.name).params - i.params) for i in leaves(two)
               if i.type == "conv" and i.layer.values["groups"] > 1]
    measured = report.totals()["params"]
    return ("60M", f"{measured:,}", rounds_to(measured, claim["claimed"]),
            f"The paper's network, two towers, has {p2:,} = {millions(p2)}: the notes' 60M, "
            f"rounded. The single tower merges the towers, so "
            + ", ".join(n for n, _ in grouped)
            + " see all the maps below them instead of their tower's half: "
            + " + ".join(f"{d:,}" for _, d in grouped)
            + f" = {p1 - p2:,} more, {p1:,} = {millions(p1)} in all.")


def conv_layers(report) -> list:
    return [i for i in leaves(report) if i.type == "conv"]


def check_zf_first_layer(claim, report):
    mine, alex = conv_layers(report)[0], conv_layers(preset_report(claim["other"]))[0]

    def words(info):
        v = info.layer.values
        k, s = v["kernel"], v["stride"]
        k, s = (k[0] if isinstance(k, list) else k), (s[0] if isinstance(s, list) else s)
        return k, s, f"{k}×{k}/{s} → {shape_text(info.out)}"

    k, s, text = words(mine)
    ak, as_, alex_text = words(alex)
    return ("smaller stride and filter in layer 1", f"{text} (AlexNet {alex_text})",
            k < ak and s < as_,
            f"Filter {k} against {ak}, stride {s} against {as_}: conv1's output is "
            f"{mine.out[1]}×{mine.out[2]} instead of {alex.out[1]}×{alex.out[2]}, "
            f"{mine.activations / alex.activations:.1f}× the values, each seeing a "
            f"{mine.receptive_field[0]}-pixel window instead of {alex.receptive_field[0]}.")


def check_zf_middle_layers(claim, report):
    mine = conv_layers(report)[2:5]
    alex = conv_layers(preset_report(claim["other"]))[2:5]
    filters = [i.layer.values["filters"] for i in mine]
    alex_filters = [i.layer.values["filters"] for i in alex]
    here = sum(i.params for i in mine)
    wide = Network.load(preset_path("zfnet"), weights=False)
    for info, count in zip(conv_layers(wide.analyze(fixes=False))[2:5], (512, 1024, 512)):
        info.layer.values["filters"] = count
    widened = sum(i.params for i in conv_layers(wide.analyze(fixes=False))[2:5])
    return ("wider middle conv layers", f"conv3–5: {filters} (AlexNet {alex_filters})",
            filters != alex_filters,
            f"This network is the paper's Fig. 3, whose conv3–conv5 have AlexNet's filter "
            f"counts ({', '.join(map(str, alex_filters))}): {here:,} parameters. The widening "
            f"the notes mean is the variant the paper reports beside it, 512, 1024, 512 maps: "
            f"{widened:,} parameters there, {widened / here:.1f}× as many.")


def aux_classifier(channels: int, size: int) -> int:
    """Parameters of one of GoogLeNet's auxiliary classifiers (the paper's section 5): a
    5×5/3 average pool, a 1×1 conv of 128, an fc of 1024 and an fc of 1000."""
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": channels, "height": size, "width": size},
        "layers": [{"type": "pool", "mode": "avg", "kernel": 5, "stride": 3},
                   {"type": "conv", "filters": 128, "kernel": 1}, {"type": "relu"},
                   {"type": "fc", "units": 1024}, {"type": "relu"},
                   {"type": "dropout", "rate": 0.7}, {"type": "fc", "units": 1000}]})
    return net.analyze(fixes=False).totals()["params"]


def check_googlenet_4m(claim, report):
    t = report.totals()["params"]
    claimed = claim["claimed"]
    blocks = [(i.name, sum(x.params for b in i.branches for x in b))
              for i in report.top if i.branches]
    stem = sum(i.params for i in report.top if i.type == "conv")
    fc = params_of(report, "fc")
    fc_layer = next(i for i in leaves(report) if i.type == "fc")
    inception = sum(p for _, p in blocks)
    largest = max(blocks, key=lambda b: b[1])
    aux = [aux_classifier(*report.by_name(n).out[:2]) for n in ("inception_4a",
                                                                "inception_4d")]
    alex = preset_report(claim["other"]).totals()["params"]
    return ("4M", f"{t:,}", rounds_to(t, claimed),
            f"{t:,} = {stem:,} in the {sum(i.type == 'conv' for i in report.top)} stem convs "
            f"+ {inception:,} in the {len(blocks)} Inception modules + {fc:,} in the one fc "
            f"({fc_layer.in_shape[0]}×{fc_layer.out[0]} weights + {fc_layer.out[0]} biases). "
            f"Without that fc: {t - fc:,}, still {(t - fc) / claimed:.2f}× the notes' 4M; the "
            f"Inception modules alone are {inception:,} ({largest[0]} alone {largest[1]:,}): "
            f"neither the whole nor its convolutions round to 4M. The auxiliary "
            f"classifiers are not the difference: the preset has none, and they would add "
            f"{aux[0]:,} + {aux[1]:,} = {sum(aux):,} more (training only). The two-tower "
            f"AlexNet's {alex:,} is {alex / t:.1f}× this network; the paper says 12× "
            f"({alex / 12 / 1e6:.1f}M); the notes' 4M would make it {alex / claimed:.0f}×.")


def check_average_pool_head(claim, report):
    t = report.totals()["params"]
    fcs = [i for i in leaves(report) if i.type == "fc"]
    gap = next((i for i in leaves(report) if i.type == "global_avg_pool"), None)
    fc_params = sum(i.params for i in fcs)
    vgg = preset_report(claim["other"])
    vgg_fc = params_of(vgg, "fc")
    vgg_share = percent(vgg_fc, vgg.totals()["params"])
    measured = (f"{len(fcs)} fc ({fc_params:,} params, {percent(fc_params, t)})"
                + (f" after a global average pool of {shape_text(gap.in_shape)}" if gap
                   else ""))
    why = (f"The head is one fc, the classifier: {percent(fc_params, t)} of the parameters, "
           f"where VGG16's three fc layers hold {vgg_fc:,} ({vgg_share}). ")
    if gap is not None:
        flat = prod(gap.in_shape)
        units = fcs[-1].out[0]
        why += (f"Averaging {shape_text(gap.in_shape)} to {gap.out[0]} values first means the fc "
                f"reads {gap.out[0]:,} numbers instead of {flat:,}: flattened, the same fc "
                f"would have {flat * units + units:,} parameters, "
                f"{(flat * units + units) / fc_params:.0f}× as many.")
    return ("average pooling, no fc stack at the end", measured,
            gap is not None and len(fcs) == 1, why)


def check_depth(claim, report):
    depth = weighted_depth(report.top)
    convs = sum(i.type == "conv" for i in leaves(report))
    fcs = sum(i.type == "fc" for i in leaves(report))
    return (str(claim["claimed"]), str(depth), depth == claim["claimed"],
            f"{convs} conv + {fcs} fc layers on its one path; pools, relus and dropout have "
            "no weights and are not counted.")


def check_only_3x3_and_2x2(claim, report):
    def sizes(kind, key):
        return sorted({str(i.layer.values[key]) for i in leaves(report) if i.type == kind})

    kernels, pools, strides = sizes("conv", "kernel"), sizes("pool", "kernel"), \
        sizes("pool", "stride")
    convs = sum(i.type == "conv" for i in leaves(report))
    agrees = kernels == ["3"] and pools == ["2"] and strides == ["2"]
    return ("3×3 conv, 2×2 pool only",
            f"conv kernels {', '.join(kernels)}; pool kernels {', '.join(pools)}, "
            f"strides {', '.join(strides)}", agrees,
            f"All {convs} convs are 3×3 (padding 1, stride 1: each keeps its size) and every "
            "pool is 2×2 with stride 2 (each halves it)." if agrees else
            "Other sizes occur: see the measured column.")


def check_params(claim, report):
    t = report.totals()["params"]
    claimed = claim["claimed"]
    ok = rounds_to(t, claimed)
    return (millions(claimed).replace(".0M", "M"), f"{t:,}", ok,
            f"{t:,} rounds to {millions(claimed).replace('.0M', 'M')} at the claim's "
            f"precision." if ok else f"{t:,} is {t / claimed:.2f}× the claim.")


def check_first_fc_share(claim, report):
    t = report.totals()["params"]
    fcs = [i for i in leaves(report) if i.type == "fc"]
    first, all_fc = fcs[0], sum(i.params for i in fcs)
    convs = sum(i.type == "conv" for i in leaves(report))
    c, h, w = first.in_shape
    return ("most parameters in the first fc",
            f"{first.name}: {first.params:,} ({percent(first.params, t)})",
            first.params > t / 2,
            f"{first.name} reads the {h}×{w}×{c} map: {h}·{w}·{c}·{first.out[0]} = "
            f"{c * h * w * first.out[0]:,} weights + {first.out[0]:,} biases. The {len(fcs)} fc "
            f"layers hold {all_fc:,} ({percent(all_fc, t)}); the {convs} convs only "
            f"{t - all_fc:,}.")


def vgg_table_rows(report) -> list:
    """The preset's values for the rows of the notes' VGG16 table: the input, then every
    layer that makes a new tensor (relus and dropout run in place)."""
    rows = [("input", prod(report.input_shape))]
    return rows + [(i.name, i.activations) for i in leaves(report) if not i.layer.IN_PLACE]


def check_vgg_table_total(claim, report):
    table = load_cases()["vgg16_table"]["rows"]
    exact = [prod(r["shape"]) for r in table]
    printed = sum(r["memory_value"] for r in table)
    ours = vgg_table_rows(report)
    same = sum(e == v for e, (_, v) in zip(exact, ours))
    total = sum(exact)
    claimed = claim["claimed"]
    relus = sum(i.activations for i in leaves(report) if i.type == "relu")
    return ("24M values, 93MB / image", f"{report.totals()['activations']:,} values, "
            f"{mb(report.totals()['forward_bytes'])}",
            rounds_to(report.totals()["activations"], claimed),
            f"The table's {len(table)} rows are right: {same} of {len(table)} equal this "
            f"network's figure for the same layer, and they add up to {total:,} "
            f"({printed:,} as printed, rounded). Its TOTAL line says 24M, {claimed - total:,} "
            f"more ({claimed / total:.2f}×), which no row accounts for; even keeping every "
            f"ReLU's output apart from its input (+{relus:,}) gives {total + relus:,}, not 24M. "
            f"At 4 bytes a value the forward pass needs {total * 4:,} B = {mb(total * 4)}, "
            f"not 93 MB (24M × 4 B is {mb(claimed * 4)}); ~×2 for backward is "
            f"{mb(total * 8)}.")


def check_skips_and_batchnorm(claim, report):
    blocks = [i for i in report.layers if i.type == "residual"]
    projections = sum(1 for b in blocks if b.branches[1])
    convs = sum(i.type == "conv" for i in leaves(report))
    norms = sum(i.type == "batchnorm" for i in leaves(report))
    return ("skip connections, much batchnorm",
            f"{len(blocks)} residual blocks, {norms} batchnorm layers for {convs} convs",
            bool(blocks) and norms == convs,
            f"{len(blocks)} blocks add their input back ({len(blocks) - projections} through "
            f"the identity, {projections} through a 1×1 projection where the shape changes); "
            f"every one of the {convs} convs is followed by a batchnorm ({norms}), so the "
            f"convs carry no bias.")


CHECKS = {name[len("check_"):]: f for name, f in globals().items() if name.startswith("check_")}


# ====================================================================== the card
def card(net, report=None) -> Card | None:
    """The case-study card of ``net`` (matched by its name), or None if it is not one."""
    case = case_of(net.name)
    if case is None:
        return None
    report = report or net.analyze(fixes=False)
    if report.first_error is not None:
        raise ConvScopeError("the network has an error, so its figures cannot be measured",
                             "case study")
    result = Card(case["id"], case["title"], case["paper"], net.name, figures(report))
    for claim in case["claims"]:
        result.claims.append(Claim(claim["quote"], claim["gloss"],
                                   *_checked(CHECKS[claim["check"]], claim, report)))
    return result


def _checked(check, claim, report) -> tuple:
    """(claimed, measured, agrees, why) of one claim. A check reads the case study's own
    structure (its first fc, its Inception modules...): on a network edited away from it
    (FC→CONV, a layer deleted) the claim cannot be measured, and the card says so."""
    try:
        return check(claim, report)
    except (LookupError, StopIteration, ValueError, TypeError, ZeroDivisionError):
        return (str(claim.get("claimed", "")), "not measurable", False,
                "The network no longer has the structure this claim is about (it was edited "
                "away from the case study: a layer converted, removed or reshaped).")
