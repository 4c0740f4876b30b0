"""Local file paths across the Qt boundary, every byte of their names kept.

A file name is bytes and need not be UTF-8. Python holds such a name as a str with escaped
bytes (os.fsdecode), but a QString cannot hold those: a path handed to Qt as a string comes
back naming another file, or none. So a path crosses Qt only as a Python object (signals of
`object`, item data under a Python role) or as a file URL made here from the name's bytes,
percent-encoded as file managers write them, and read back here.
"""

from __future__ import annotations

import os
from urllib.parse import quote_from_bytes, unquote_to_bytes

from PySide6.QtCore import QUrl

_BYTES_NAMES = os.name == "posix"  # elsewhere names are Unicode and Qt's own conversions keep them


def file_url(path: str | os.PathLike) -> QUrl:
    """A file:// URL naming exactly the file at `path` (made absolute)."""
    if not _BYTES_NAMES:
        return QUrl.fromLocalFile(os.path.abspath(path))
    raw = os.fsencode(os.path.abspath(path))
    return QUrl.fromEncoded(b"file://" + quote_from_bytes(raw).encode("ascii"))


def local_path(url: QUrl) -> str | None:
    """The path a local file URL names (a str holding the name's exact bytes); None for other URLs."""
    if not url.isLocalFile():
        return None
    if not _BYTES_NAMES or url.host() not in ("", "localhost"):
        return url.toLocalFile() or None
    path = unquote_to_bytes(url.path(QUrl.ComponentFormattingOption.FullyEncoded))
    return os.fsdecode(path) if path else None
