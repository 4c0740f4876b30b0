"""The layers stay visible: the import-linter contracts in pyproject.toml hold (and would catch
a break), and the front doors of the engine, the app and the CLI import without torch."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
    )


def test_the_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_contracts_catch_a_lazy_qt_import_in_the_engine(tmp_path):
    shutil.copytree(ROOT / "studio", tmp_path / "studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "studio" / "engine" / "sneaky.py").write_text(
        '"""A module that breaks the layers."""\n\ndef f():\n    from PySide6.QtWidgets import QWidget\n'
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "studio.engine.sneaky -> PySide6" in result.stdout


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
