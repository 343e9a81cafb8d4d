"""Panels that work only while they are on screen, and painting put off to later turns.

A dock behind another tab stays "visible" to Qt (it is moved off the window, not hidden), so
every panel used to redraw on every edit and every forward pass, seen or not: the memory
table, the kernel window and the kernels together stalled an edit of ResNet-18 by 50–100 ms,
and the Gradients panel ran a backward pass after every forward pass. ``ScreenWatch`` tells a
panel when it comes on or goes off screen; ``Follow`` lets it redraw when one of its signals
fires and it is on screen, and otherwise only notes that it is stale and catches up when it
comes to the front. ``PaintTurns`` holds widgets' painting back and lets them paint one per
turn of the event loop, so that one change does not make the window paint everything in one
stall."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QWidget


def on_screen(widget: QWidget) -> bool:
    """Shown and not covered: not hidden, and not a dock tab behind another."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


class ScreenWatch(QObject):
    """Calls each of its ``listeners`` with ``on`` when ``panel`` comes on screen (True) or
    goes off (False): it is shown or hidden, or its dock's tab comes to the front or goes
    behind another. One per panel (``screen_watch``): each watch filters the panel's events."""

    def __init__(self, panel: QWidget):
        super().__init__(panel)
        self.panel, self.listeners = panel, []
        self.state = None  # unknown until the first check
        self._dock = None
        # checked after the event: a tab switch places the panel once the layout has run
        self.timer = QTimer(self, singleShot=True, interval=0)
        self.timer.timeout.connect(self.check)
        panel.installEventFilter(self)

    def check(self) -> None:
        state = on_screen(self.panel)
        if state != self.state:
            self.state = state
            for listener in list(self.listeners):
                listener(state)

    def _watch_dock(self) -> None:
        if self._dock is not None:
            return
        parent = self.panel.parentWidget()
        while parent is not None and not isinstance(parent, QDockWidget):
            parent = parent.parentWidget()
        if parent is not None:
            self._dock = parent
            parent.visibilityChanged.connect(lambda _visible: self.timer.start())

    def eventFilter(self, obj, event) -> bool:
        if obj is self.panel and event.type() in (QEvent.Type.Show, QEvent.Type.Hide):
            self._watch_dock()
            self.timer.start()
        return False


def screen_watch(panel: QWidget, listener=None) -> ScreenWatch:
    """The panel's one ScreenWatch (made on first use), with ``listener`` added if given."""
    watch = panel.findChild(ScreenWatch, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if watch is None:
        watch = ScreenWatch(panel)
    if listener is not None:
        watch.listeners.append(listener)
    return watch


class Follow(QObject):
    """Calls ``refresh()`` after ``signals`` fire, while ``panel`` is on screen.

    ``later=True``: once after a burst of signals (a 0 ms timer), as the Understand panels
    do; ``later=False``: at once, as the live views do (their tests read them right after a
    pass). A panel off screen is marked stale and refreshes when it comes on screen."""

    def __init__(self, panel: QWidget, signals, refresh, later: bool = True):
        super().__init__(panel)
        self.panel, self.refresh, self.later = panel, refresh, later
        self.stale = False
        self.timer = QTimer(self, singleShot=True, interval=0)
        self.timer.timeout.connect(self._run)
        for signal in signals if isinstance(signals, (list, tuple)) else (signals,):
            signal.connect(self.start)
        self.watch = screen_watch(panel, lambda on: on and self.stale and self._run())

    def start(self, *_args) -> None:
        self.stale = True
        if not on_screen(self.panel):
            # noted now, so that coming on screen is seen even when the watch's own check
            # (after the tab switch) has not run yet
            self.watch.check()
            return
        if self.later:
            self.timer.start()
        else:
            self._run()

    def now(self, *_args) -> None:
        """Refresh at once if on screen (a new selection shows at once), else as ``start``."""
        if on_screen(self.panel):
            self._run()
        else:
            self.start()

    def stop(self) -> None:
        """The panel refreshes now: nothing is pending."""
        self.timer.stop()
        self.stale = False

    def _run(self) -> None:
        if on_screen(self.panel):
            self.stale = False
            self.refresh()



class PaintTurns(QObject):
    """Holds back widgets' painting and lets them paint one per turn of the event loop, in
    the order given (the first in the turn after the next).

    What an event changes is painted in one go in the event loop's next turn; Qt's graphics
    views even paint the whole window at once, inside their own update. Opening a network
    made new cards, a new table, a new inspector page: painted together right after being
    built, the window did not answer for 40-60 ms. Turn by turn, input and timers get in
    between. Only painting waits: the widgets' contents are up to date at once."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.waiting: list[QWidget] = []
        # 1 ms, not 0: Qt 6 runs a 0 ms single shot as a posted call, in the same batch of
        # posted events as the paint it must come after
        self.timer = QTimer(self, singleShot=True, interval=1)
        self.timer.timeout.connect(self._release_next)

    def hold(self, widgets) -> None:
        """Hold these widgets (those on screen that another hand has not turned off), to
        paint in this order; widgets still waiting from an earlier call wait after them.
        (A hidden widget has nothing to paint: held, it would only take a turn.)"""
        held = [w for w in widgets
                if w.isVisible() and (w.updatesEnabled() or w in self.waiting)]
        for widget in held:
            widget.setUpdatesEnabled(False)
        self.waiting = held + [w for w in self.waiting if w not in held]
        if self.waiting:
            self.timer.start()

    def _release_next(self) -> None:
        while self.waiting:
            widget = self.waiting.pop(0)
            if shiboken6.isValid(widget):
                widget.setUpdatesEnabled(True)  # repaints it whole, in the next turn
                break
        if self.waiting:
            self.timer.start()
