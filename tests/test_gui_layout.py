"""The dock layout between runs: the live and Understand panels join the window after it is
shown (start-up stays fast), and must still come back where the user left them."""

import pytest


@pytest.fixture
def start(start_app):
    """The app's start path, at 1600×1000 (``parts=False``: the designer alone)."""
    return lambda parts=True: start_app(parts=parts, size=(1600, 1000))


def shown(window):
    return {name for name, dock in window.docks.items() if not dock.isHidden()}


def test_a_panel_the_user_closed_stays_closed_and_the_rest_come_back(start):
    first = start()
    assert {"Input", "Feature maps", "Explain", "Summary"} <= shown(first)
    first.docks["Explain"].close()
    first.close()
    second = start()
    assert "Explain" not in shown(second)
    assert {"Input", "Feature maps", "Kernels", "Summary", "Palette"} <= shown(second)


def test_panels_a_saved_layout_never_knew_are_shown(start):
    """A layout saved by a window without the plug-in panels must not hide them."""
    first = start(parts=False)
    first.close()
    second = start()
    assert {"Input", "Feature maps", "Explain", "Train"} <= shown(second)
