"""Imports after PySide6, at their plain cost.

Once PySide6 is imported it looks at every module imported after it for the word "PySide6", to
know which modules may select its `__feature__` options. It asks `inspect.getsource`, which
finds, decodes, tokenizes and caches the lines of each file: for the thousands of modules of
torch, diffusers and transformers that made the first model load about a quarter slower (CPU
time). `quicker_feature_check` answers the same question from the file's bytes.
"""

from __future__ import annotations

import sys
from typing import Any


def quicker_feature_check() -> None:
    """Let PySide6 look for "PySide6" in a module's file directly (once; a no-op on a PySide6 without the check)."""
    feature: Any = sys.modules.get("shibokensupport.feature")
    original = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or original is None or getattr(original, "by_bytes", False):
        return

    def uses_pyside(module) -> bool:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith(".py"):
            try:
                with open(path, "rb") as source:
                    return b"PySide6" in source.read()
            except OSError:
                pass
        return original(module)  # a module without a .py file: as PySide6 itself says

    check: Any = uses_pyside
    check.by_bytes = True
    feature._mod_uses_pyside = check
