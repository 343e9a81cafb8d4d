"""The Case studies panel: when the open network is one of the notes' case studies (LeNet,
AlexNet, ZF Net, GoogLeNet, VGGNet, ResNet), its card: ConvScope's figures for it, then each
claim the notes make, quoted in Chinese with an English gloss, beside what ConvScope measures
and why the two differ (core.understand.cases works all of it out; this only shows it). It
follows every edit: the measured side is always the network as it is now."""

from __future__ import annotations

from convscope.core import ConvScopeError
from convscope.core.understand.cases import card, load_cases
from convscope.gui.lazy import Follow
from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from .common import escape

STYLE = """
<style>
h2 { margin: 4px 0 2px 0; font-size: large; }
h3 { margin: 12px 0 4px 0; color: #1f4e8c; }
p { margin: 2px 0 4px 0; }
td, th { padding: 2px 8px; }
th { text-align: left; background: #e8ebf0; }
.quote { font-size: large; margin-top: 10px; }
.gloss { color: #3c4350; font-style: italic; }
.why { margin-left: 12px; }
.hint { color: #5d6470; }
.agrees { color: #1b6e2c; font-weight: bold; }
.differs { color: #b3261e; font-weight: bold; }
</style>
"""
VERDICT = {True: ("agrees", "✓ agrees"), False: ("differs", "✗ differs"),
           None: ("hint", "— nothing to compare")}


def has_chinese_font() -> bool:
    return bool(QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese))


def card_html(c) -> str:
    parts = [STYLE, f"<h2>{escape(c.title)}: the notes' case study</h2>",
             f"<p class='hint'>Measured on {escape(c.network)}, for one image. Paper: "
             f"{escape(c.paper)}.</p>"]
    if not has_chinese_font():
        parts.append("<p class='hint'>No Chinese font is installed, so the notes' sentences "
                     "may show as boxes; each is glossed in English below it.</p>")
    parts.append("<h3>ConvScope's figures</h3><table>")
    parts += [f"<tr><td>{escape(label)}</td><td>{escape(text)}</td></tr>"
              for label, text in c.figures]
    parts.append("</table><h3>What the notes say, against what ConvScope measures</h3>")
    for claim in c.claims:
        kind, words = VERDICT[claim.agrees]
        parts += [
            f"<p class='quote'>「{escape(claim.quote)}」</p>",
            f"<p class='gloss'>{escape(claim.gloss)}</p>",
            "<table><tr><th>The notes</th><th>ConvScope</th><th></th></tr>"
            f"<tr><td>{escape(claim.claimed)}</td><td>{escape(claim.measured)}</td>"
            f"<td class='{kind}'>{words}</td></tr></table>",
            f"<p class='why'><b>Why:</b> {escape(claim.why)}</p>",
        ]
    return "\n".join(parts)


def no_case_html(name: str) -> str:
    titles = ", ".join(c["title"] for c in load_cases()["cases"])
    return (STYLE + f"<p class='hint'>{escape(name or 'This network')} is not one of the "
            f"notes' case studies ({escape(titles)}). Open one from the Presets menu to see "
            "what the notes say about it beside ConvScope's own figures.</p>")


class CasesPanel(QWidget):
    """The card of ``document.network``; ``shown`` is emitted after each refresh."""

    shown = Signal()

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.setObjectName("casesPanel")
        self.doc = document
        self.card = None  # the core Card shown, or None
        self.browser = QTextBrowser(objectName="caseCard")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.browser)
        # edits arrive in bursts (a fix is several changes): measure once after the burst
        self._follow = Follow(self, document.changed, self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self._follow.stop()
        net = self.doc.network
        try:
            self.card = card(net, self.doc.report)
        except ConvScopeError as err:
            self.card = None
            self.browser.setHtml(STYLE + f"<p>{escape(str(err))}</p>")
        else:
            scroll = self.browser.verticalScrollBar().value()
            self.browser.setHtml(card_html(self.card) if self.card else no_case_html(net.name))
            self.browser.verticalScrollBar().setValue(scroll)
        self.shown.emit()

    def plain_text(self) -> str:
        return self.browser.toPlainText()
