"""``first_problem`` (the shapes-only walk behind the input-size fixes) must name the same
layer as the full analysis: the first one in reading order with a warning, an error, or
that cannot be computed."""

import pytest
from convscope.core import Network
from convscope.core.analysis import analyze, first_problem
from convscope.core.presets import preset_paths


def by_analysis(net, h, w):
    infos = analyze(net.layers, (net.input.channels, h, w)).layers
    return next((n for n, i in enumerate(infos) if i.blocked_by or any(
        d.severity in ("warning", "error") for d in i.diagnostics)), len(infos))


@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
def test_presets_at_many_input_sizes(path):
    net = Network.load(path)
    for size in range(20, 260, 13):
        assert first_problem(net.layers, (net.input.channels, size, size)) == \
            by_analysis(net, size, size), size


def test_errors_inside_and_between_blocks():
    """A concat whose branches disagree after an inner warning (the block, listed first,
    is the first problem), and a residual whose sides differ."""
    net = Network.from_dict({
        "format": "convscope", "version": 1,
        "input": {"channels": 3, "height": 9, "width": 9},
        "layers": [
            {"type": "conv", "filters": 4, "kernel": 3, "stride": 2},
            {"type": "concat", "branches": [[{"type": "conv", "filters": 2, "kernel": 5}],
                                            [{"type": "pool", "kernel": 3, "stride": 2}],
                                            []]},
            {"type": "residual",
             "body": [{"type": "conv", "filters": 6, "kernel": 3, "stride": 2, "padding": 1}],
             "shortcut": [{"type": "conv", "filters": 6, "kernel": 1, "stride": 3}]},
            {"type": "fc", "units": 3}]})
    seen = set()
    for size in range(1, 60):
        expected = by_analysis(net, size, size)
        seen.add(expected)
        assert first_problem(net.layers, (3, size, size)) == expected, size
    assert {0, 1} <= seen  # both the first conv and the concat block were the culprit
