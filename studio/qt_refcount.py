"""A guard for PySide6 6.12 on CPython 3.11: every Qt call that returns nothing drops a reference to None.

Measured here (PySide6 6.12.0, Python 3.11.7): `widget.update()`, `app.processEvents()`,
a model's `data()` returning None, ... each lower None's reference count by one, so a
session that paints a grid for a while drives it to zero and the interpreter aborts
("deallocating None"). CPython 3.12 made None immortal, which hides the bug there; this
module does the same on older versions by lifting None's count far out of reach. It is
imported by the modules that use Qt; importing it again does nothing.
"""

from __future__ import annotations

import ctypes
import sys

HEADROOM = 1 << 40  # a drop per call would take years to use up


def make_none_immortal() -> None:
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return
    count = ctypes.c_ssize_t.from_address(id(None))  # ob_refcnt is the first field of every object
    if count.value < HEADROOM:
        count.value += HEADROOM


make_none_immortal()
