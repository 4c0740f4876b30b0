"""The layers stay visible: no package imports what sits above it, and the engine's front door is light.

Every import statement in studio/ is read (lazy ones inside functions too) and checked
against the rules below.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "studio"

ABOVE_ENGINE = ("studio.ui", "studio.model", "studio.worker", "studio.jobs", "studio.app", "studio.cli", "studio.gallery")
RULES = {
    "studio.engine": ("PySide6", "studio.recipe.walker", "studio.recipe.dialects", "studio.recipe.embed", *ABOVE_ENGINE),
    "studio.embedded": ("PySide6", *ABOVE_ENGINE),
    "studio.recipe": ("PySide6", *ABOVE_ENGINE),
    "studio.files": ("PySide6", "studio.engine", "studio.recipe", *ABOVE_ENGINE),
    "studio.errors": ("PySide6", "studio.engine", "studio.recipe", "studio.files", *ABOVE_ENGINE),
    "studio.gallery": ("PySide6.QtWidgets", "studio.ui", "studio.model", "studio.worker", "studio.jobs", "studio.app", "studio.cli"),
    "studio.model": ("PySide6.QtWidgets", "studio.ui", "studio.app", "studio.cli"),
    "studio.worker": ("PySide6.QtWidgets", "studio.ui", "studio.app", "studio.cli"),
    "studio.jobs": ("PySide6.QtWidgets", "studio.ui", "studio.app", "studio.cli"),
    "studio.ui": ("studio.engine.runner", "studio.engine.loader", "torch", "diffusers", "studio.worker", "studio.jobs", "studio.app"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_layer_imports_what_sits_above_it():
    broken = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for layer, forbidden in RULES.items():
            if not _under(module, layer):
                continue
            for line, imported in _imports(path):
                if any(_under(imported, f) for f in forbidden):
                    broken.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not broken, "\n".join(broken)


def test_the_rules_can_catch_a_break(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6.QtWidgets import QWidget\n")
    assert list(_imports(bad)) == [(2, "PySide6.QtWidgets")]


def test_the_app_and_request_types_import_without_torch():
    code = (
        "import sys\n"
        "import studio.engine, studio.engine.request, studio.engine.events, studio.recipe.walker, studio.recipe.embed, studio.cli\n"
        "import studio.app, studio.worker, studio.ui.main_window\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
