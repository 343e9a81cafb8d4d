"""The dock layout between runs: the live and Understand panels join the window after it is
shown (start-up stays fast), and must still come back where the user left them."""

import pytest
from convscope.core.presets import preset_path
from convscope.gui import app


@pytest.fixture
def start(qtbot, isolated, dialogs):
    windows = []

    def start(parts=True):
        window = app.create_window(parts=False)
        qtbot.addWidget(window)
        window.resize(1600, 1000)
        window.show()
        window.open_path(preset_path("lenet5"), quiet=True)
        if parts:  # after the window is shown, as the app does
            window.add_parts()
        windows.append(window)
        return window

    yield start
    for window in windows:
        window.document.undo_stack.setClean()
        window.close()


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
