# pyright: standard
"""EXIF, as far as recipes go: the UserComment that carries the AUTOMATIC1111 text in JPEG and
WebP files (and the ImageDescription some tools use), read from an EXIF block and written
into one the way AUTOMATIC1111 does.
"""

from __future__ import annotations

import struct
import unicodedata
from typing import Any

USER_COMMENT_TAG = 0x9286
EXIF_IFD_TAG = 0x8769
IMAGE_DESCRIPTION_TAG = 0x010E


def read_texts(exif: bytes) -> dict[str, str]:
    """The recipe texts of an EXIF block (with or without its 'Exif' header): its UserComment
    as "exif", its ImageDescription as "description". PIL raises on a damaged block."""
    from PIL import Image

    tags = Image.Exif()
    tags.load(exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif)
    comment = tags.get_ifd(EXIF_IFD_TAG).get(USER_COMMENT_TAG)
    description = tags.get(IMAGE_DESCRIPTION_TAG)
    texts = {}
    if comment is not None:
        texts["exif"] = decode_user_comment(comment)
    if isinstance(description, str):
        texts["description"] = description
    return texts


def decode_user_comment(raw: Any) -> str:
    """The text of an EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(raw, str):
        return raw.rstrip("\0")
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    prefix, body = bytes(raw[:8]), bytes(raw[8:])
    if prefix == b"UNICODE\0":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            encoding, body = ("utf-16-be" if body[:2] == b"\xfe\xff" else "utf-16-le"), body[2:]
            return body[: len(body) // 2 * 2].decode(encoding, errors="replace").rstrip("\0")
        # No byte-order mark: the reading with fewer control or unassigned characters, then with more
        # ASCII (prompts are mostly ASCII); big-endian, as AUTOMATIC1111 writes it, when neither is likelier.
        readings = [
            body[: len(body) // 2 * 2].decode(encoding, errors="replace").rstrip("\0")
            for encoding in ("utf-16-be", "utf-16-le")
        ]
        return min(readings, key=_unlikely_characters)
    if prefix in (b"ASCII\0\0\0", b"\0" * 8, b"JIS\0\0\0\0\0"):
        return body.decode("utf-8", errors="replace").rstrip("\0")
    return bytes(raw).decode("utf-8", errors="replace").rstrip("\0")


def _unlikely_characters(text: str) -> tuple[int, int]:
    odd = sum(unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs") or c == "\ufffd" for c in text if c not in "\n\t")
    return odd, sum(not c.isascii() for c in text)


def encode_user_comment(text: str) -> bytes:
    """A UserComment as AUTOMATIC1111 writes it: 'UNICODE' prefix, then UTF-16 big-endian."""
    return b"UNICODE\0" + text.encode("utf-16-be")


_LONG, _UNDEFINED = 4, 7


def user_comment_exif(text: str) -> bytes:
    """An EXIF block (with its 'Exif' header) holding only `text` as the UserComment, laid out
    as AUTOMATIC1111's writer does: big-endian TIFF, IFD0 pointing at an Exif IFD whose one
    entry is the UserComment of type UNDEFINED ('UNICODE' prefix, UTF-16 big-endian text).
    Readers built on piexif (sd-prompt-reader, A1111 itself) need that type."""
    comment = encode_user_comment(text)
    exif_ifd = 8 + 2 + 12 + 4  # after the header and IFD0 (one entry, no next IFD)
    data = exif_ifd + 2 + 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", EXIF_IFD_TAG, _LONG, 1, exif_ifd) + struct.pack(">I", 0)
    tiff += (
        struct.pack(">H", 1)
        + struct.pack(">HHII", USER_COMMENT_TAG, _UNDEFINED, len(comment), data)
        + struct.pack(">I", 0)
    )
    return b"Exif\x00\x00" + tiff + comment
