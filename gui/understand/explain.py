"""The Explain panel: the selected layer's arithmetic, worked through with its own numbers
(core.understand.explain), as readable rich text that follows the selection and every edit."""

from __future__ import annotations

import re

from convscope.core import ConvScopeError
from convscope.core.understand.explain import explain, n, vol
from convscope.gui.lazy import Follow
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from .common import escape

# A line that is a worked formula ("Height and width: (227 − 11 + 2·0)/4 + 1 = 55") is set
# in a fixed-width font so its numbers line up with the formula above it.
FORMULA = re.compile(r"^(Height and width|Height|Width|O = |rf = )")

STYLE = """
<style>
h2 { margin: 4px 0 2px 0; font-size: large; }
h3 { margin: 10px 0 2px 0; color: #1f4e8c; }
p { margin: 2px 0 4px 0; }
.formula { font-family: monospace; background: #f1f3f6; padding: 2px 4px; }
.bullet { margin-left: 14px; }
.hint { color: #5d6470; }
</style>
"""


def sections_html(sections) -> str:
    """Sections (title, text) → HTML: the first as the heading, each line a paragraph."""
    parts = [STYLE]
    for k, section in enumerate(sections):
        tag = "h2" if k == 0 else "h3"
        parts.append(f"<{tag}>{escape(section.title)}</{tag}>")
        for raw in section.text.split("\n"):
            text = raw.strip()
            if not text:
                continue
            body = _inline(escape(text))
            if text.startswith("•"):
                parts.append(f"<p class='bullet'>{body}</p>")
            elif FORMULA.match(text):
                parts.append(f"<p class='formula'>{body}</p>")
            else:
                parts.append(f"<p>{body}</p>")
    return "\n".join(parts)


def _inline(text: str) -> str:
    """`code` → monospace."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


class ExplainPanel(QWidget):
    """Follows ``document.selected``; shows the input's size when the input is selected."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("explainPanel")
        self.doc = document
        self.browser = QTextBrowser(objectName="explainText")
        self.browser.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.browser)
        self.sections = []  # what is shown, as core returned it
        # edits arrive in bursts (a fix is several changes): explain once after the burst
        self._follow = Follow(self, document.changed, self.refresh)
        # a new selection shows at once; behind another tab it waits until it is shown
        document.selectionChanged.connect(self._follow.now)
        self.refresh()

    def refresh(self) -> None:
        self._follow.stop()
        doc = self.doc
        name = doc.selected
        self.sections = []
        if name == "input":
            self.browser.setHtml(STYLE + self._input_html())
            return
        if not name:
            self.browser.setHtml(STYLE + "<p class='hint'>Select a layer in the pipeline to "
                                 "see its arithmetic worked through with its own numbers: "
                                 "output size, parameters, multiply–accumulates, im2col, "
                                 "receptive field and its backward pass.</p>")
            return
        try:
            self.sections = explain(doc.network, name, doc.report)
        except ConvScopeError as err:
            self.browser.setHtml(STYLE + f"<p>{escape(str(err))}</p>")
            return
        scroll = self.browser.verticalScrollBar().value()
        self.browser.setHtml(sections_html(self.sections))
        self.browser.verticalScrollBar().setValue(scroll)  # an edit keeps the reader's place

    def _input_html(self) -> str:
        spec = self.doc.network.input
        c, h, w = spec.shape
        text = (f"<h2>input</h2><p>The image as the network takes it: {vol(spec.shape)} = "
                f"{h}·{w}·{c} = {n(c * h * w)} values ({n(4 * c * h * w)} bytes as float32)."
                f"</p>")
        if spec.mean is not None or spec.std is not None:
            text += ("<p>An image file is scaled to [0, 1], then each channel has its mean "
                     f"subtracted ({spec.mean}) and is divided by its standard deviation "
                     f"({spec.std}), as the network was trained.</p>")
        return text

    def plain_text(self) -> str:
        return self.browser.toPlainText()
