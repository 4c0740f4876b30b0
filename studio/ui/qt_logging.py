"""Qt's side of the log (see studio.logs): Qt's own messages into the `qt` logger, and an
exception nobody caught shown on the window in one line, whatever thread it happened in."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QtMsgType, Signal, qInstallMessageHandler

from studio.logs import on_uncaught

log = logging.getLogger(__name__)

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}
_previous: list = []


def install_qt_messages() -> None:
    """Route Qt's messages (qWarning and friends, from any thread) to the `qt` logger, or to the
    logger of their category when it is one of Qt's own (qt.qpa.xcb, ...)."""
    if not _previous:
        _previous.append(qInstallMessageHandler(_qt_message))


def remove_qt_messages() -> None:
    """Give Qt back the message handler it had before `install_qt_messages`."""
    if _previous:
        qInstallMessageHandler(_previous.pop())


def _qt_message(kind, context, message: str) -> None:
    category = getattr(context, "category", None) or ""
    logger = logging.getLogger(category if category.startswith("qt.") else "qt")
    logger.log(_LEVELS.get(kind, logging.WARNING), "%s", message)
    if kind == QtMsgType.QtFatalMsg:  # Qt aborts next
        for handler in logging.getLogger().handlers:
            handler.flush()


class _Relay(QObject):
    """Carries the line to the window's thread (a queued connection from any other)."""

    said = Signal(str)


def report_uncaught(window) -> None:
    """Show every exception nobody caught on `window` (a MainWindow) as one line, for as long as it lives."""
    relay = _Relay(window)
    relay.said.connect(lambda text: _show(window, text))
    stop = on_uncaught(relay.said.emit)
    window.destroyed.connect(stop)


def _show(window, text: str) -> None:
    try:
        if getattr(window, "built", False):
            window.show_error(text)
        else:  # the panels (and the error line) are not there yet
            window.statusBar().showMessage(text.replace("\n", " "))
    except Exception:  # showing it must not raise again, or every report would make another
        log.exception("showing an uncaught exception on the window failed")
