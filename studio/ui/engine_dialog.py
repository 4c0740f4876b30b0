"""Settings › Engine: run jobs on this computer or on a Studio server (its address and token).

The dialog only collects and shows: `checkRequested(url, token)` asks the app to try the
server, which answers through `checked(message)` ('' = it answered), from any thread.
`EngineStatus` is the status bar's engine line.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class EngineDialog(QtWidgets.QDialog):
    checkRequested = QtCore.Signal(str, str)  # url, token
    checked = QtCore.Signal(str)  # the answer to checkRequested, from any thread

    def __init__(self, mode: str, url: str, token: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Engine")
        self.local = QtWidgets.QRadioButton("This computer")
        self.server = QtWidgets.QRadioButton("Server")
        self.local.setToolTip("Jobs run here, on this computer's GPU or CPU")
        self.server.setToolTip("Jobs run on a machine that runs `studio serve`; pictures are saved here")
        (self.server if mode == "server" else self.local).setChecked(True)
        self.url = QtWidgets.QLineEdit(url)
        self.url.setPlaceholderText("http://192.168.1.20:7860")
        self.token = QtWidgets.QLineEdit(token)
        self.token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("the server's token (from its --token-file), if it has one")
        self.check = QtWidgets.QPushButton("&Check connection")
        self.answer = QtWidgets.QLabel("")
        self.answer.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Address", self.url)
        form.addRow("Token", self.token)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.check)
        row.addWidget(self.answer, 1)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("Where should pictures be made?"))
        layout.addWidget(self.local)
        layout.addWidget(self.server)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.check.clicked.connect(self._check)
        self.checked.connect(self.show_check)
        self.server.toggled.connect(self._enable)
        self._enable(self.server.isChecked())
        self.setMinimumWidth(460)

    def values(self) -> tuple[str, str, str]:
        """(mode, url, token) as chosen."""
        mode = "server" if self.server.isChecked() and self.url.text().strip() else "local"
        return mode, self.url.text().strip(), self.token.text().strip()

    def show_check(self, message: str) -> None:
        self.check.setEnabled(True)
        self.answer.setText(message or "Connected")

    def _check(self) -> None:
        self.check.setEnabled(False)
        self.answer.setText("Checking…")
        self.checkRequested.emit(self.url.text().strip(), self.token.text().strip())

    def _enable(self, on: bool) -> None:
        for widget in (self.url, self.token, self.check):
            widget.setEnabled(on)


class EngineStatus(QtWidgets.QLabel):
    """The status bar's engine line: this computer, or the server and whether it answers."""

    checked = QtCore.Signal(str)  # '' = the server answered, else why not (from any thread)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._label = ""
        self.checked.connect(self._show_check)

    def show_engine(self, label: str, checking: bool) -> None:
        self._label = label
        self.setText(f"{label} · connecting…" if checking else label)
        self.setToolTip("")

    def _show_check(self, message: str) -> None:
        self.setText(f"{self._label} · {'unreachable' if message else 'connected'}")
        self.setToolTip(message)
