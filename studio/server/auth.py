"""Who may call the server: a bearer token, or AUTOMATIC1111's `--api-auth user:pass` basic form.

Secrets are compared with `hmac.compare_digest`, so how long a comparison takes says nothing
about how much of a guess was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import stat
from pathlib import Path

from studio.errors import StudioError

MAX_TOKEN_FILE = 4096
MIN_TOKEN = 16


def read_token_file(path: str | os.PathLike) -> str:
    """The token in FILE (its first line, spaces trimmed); refused when empty, short or not a file."""
    file = Path(path)
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise StudioError(f"token file {file} is not a regular file")
        with open(file, "rb") as handle:
            data = handle.read(MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise StudioError(f"cannot read token file {file}: {exc.strerror or exc}") from None
    if len(data) > MAX_TOKEN_FILE:
        raise StudioError(f"token file {file} is over {MAX_TOKEN_FILE} bytes; it should hold one line")
    try:
        lines = data.decode("utf-8").strip().splitlines()
    except UnicodeDecodeError:
        raise StudioError(f"token file {file} is not UTF-8 text") from None
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN:
        raise StudioError(f"the token in {file} is too short: at least {MIN_TOKEN} characters")
    return token


def parse_api_auth(text: str) -> tuple[tuple[str, str], ...]:
    """'user:pass' or 'user:pass,user2:pass2' as (user, password) pairs."""
    pairs = []
    for item in text.split(","):
        user, colon, password = item.strip().partition(":")
        if not colon or not user or not password:
            raise StudioError("--api-auth takes USER:PASSWORD (several separated by commas)")
        pairs.append((user, password))
    return tuple(pairs)


def allowed(header: str | None, token: str, basic: tuple[tuple[str, str], ...]) -> bool:
    """Whether an Authorization header carries the token or one of the user:password pairs."""
    if not token and not basic:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and token:
        return hmac.compare_digest(value.encode("utf-8", "replace"), token.encode("utf-8"))
    if scheme == "basic" and basic:
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        found = False
        for user, password in basic:  # every pair is compared, so the time does not say which matched
            found |= hmac.compare_digest(given, f"{user}:{password}".encode())
        return found
    return False
