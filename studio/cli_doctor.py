"""`studio doctor`: what Studio sees on this machine and what to do about anything missing.

Each check reads the real thing (torch and the device it would run on, free memory, whether
Qt's platform plugin loads, the data folder, the models library, the embedded model) and
gives a status: "ok", "warning" (something works less well, or only the window is affected)
or "problem" (Studio cannot make pictures until it is fixed; the exit status is then 1).
Nothing is written: a missing data folder is reported as made on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

OK, WARNING, PROBLEM = "ok", "warning", "problem"
GB = 1024**3
LOW_MEMORY = 2 * GB
LOW_DISK = 1 * GB
QT_PROBE_TIMEOUT_S = 60
TORCH_CPU = "pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_CUDA = "pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu128"
REINSTALL = "reinstall Studio: pip install --force-reinstall studio-*.whl (or pipx reinstall studio)"


@dataclass
class Check:
    name: str
    value: str
    status: str = OK
    fix: str = ""
    details: dict = field(default_factory=dict)


def add_doctor_parser(commands, common) -> None:
    doctor = commands.add_parser(
        "doctor",
        parents=[common],
        help="show what Studio sees here (torch, device, memory, Qt, data folder, models) and what to fix",
        description="Check this machine for Studio: Python, torch and the device it would use, free memory, "
        "the GPU, Qt's platform plugin, the data folder, the models library and the embedded model. "
        "Exit status 0 when Studio can make pictures here, 1 when something essential is missing.",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as one JSON object")


def run_doctor(args: argparse.Namespace) -> int:
    from studio.paths import data_dir

    folder = data_dir(args.data_dir)
    checks = [
        _python(),
        _studio(),
        *_guarded("torch", lambda: _torch(args.device)),
        *_guarded("Libraries", _libraries),
        *_guarded("Memory", _memory),
        *_guarded("Qt", _qt),
        *_guarded("Data folder", lambda: _data_folder(folder)),
        *_guarded("Models", lambda: _models(folder)),
        *_guarded("Embedded model", _embedded),
    ]
    usable = not any(c.status == PROBLEM for c in checks)
    if args.json:
        print(json.dumps({"usable": usable, "checks": [asdict(c) for c in checks]}))
    else:
        _print(checks, usable)
    return 0 if usable else 1


def _guarded(name: str, check) -> list[Check]:
    """The check's results; one problem naming what broke if the check itself fails."""
    try:
        found = check()
    except Exception as exc:
        return [Check(name, f"could not be checked: {type(exc).__name__}: {exc}", PROBLEM, "")]
    return found if isinstance(found, list) else [found]


def _python() -> Check:
    version = platform.python_version()
    return Check("Python", f"{version} ({sys.executable})", details={"version": version, "executable": sys.executable})


def _studio() -> Check:
    import studio
    from studio import __version__

    where = str(Path(studio.__file__).parent)
    return Check("Studio", f"{__version__} ({where})", details={"version": __version__, "path": where})


def _torch(device: str | None) -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [
            Check(
                "torch",
                f"not installed ({exc})",
                PROBLEM,
                f"install torch first; with an NVIDIA GPU: {TORCH_CUDA.replace(' --force-reinstall', '')}; "
                f"without one: {TORCH_CPU.replace(' --force-reinstall', '')}; on a Mac: pip install torch",
            )
        ]
    from studio.engine.devices import pick_device
    from studio.errors import StudioError

    if torch.version.cuda:
        build = f"CUDA {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        build = f"ROCm {torch.version.hip}"
    elif torch.backends.mps.is_built():
        build = "MPS"
    else:
        build = "CPU"
    details: dict = {"version": torch.__version__, "build": build, "device": None}
    checks = []
    try:
        chosen = pick_device(device)
    except StudioError as exc:
        checks.append(
            Check(
                "torch",
                f"{torch.__version__}, {build} build; {exc}",
                PROBLEM,
                "leave out --device (and STUDIO_DEVICE) to use the best device present",
                details,
            )
        )
    else:
        details["device"] = chosen
        check = Check("torch", f"{torch.__version__}, {build} build; runs on {chosen}", details=details)
        if chosen == "cpu" and _nvidia_present():
            check.status = WARNING
            if build == "CPU":
                check.value += " (an NVIDIA GPU is here, but this torch cannot use it)"
                check.fix = f"install the CUDA build of torch: {TORCH_CUDA}"
            else:
                check.value += " (an NVIDIA GPU is here, but CUDA does not start)"
                check.fix = "update the NVIDIA driver to one that supports CUDA " + (torch.version.cuda or "")
        elif chosen == "cpu":
            check.value += " (pictures take minutes at full size)"
        checks.append(check)
    checks.append(_gpu(torch))
    return checks


def _nvidia_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def _gpu(torch) -> Check:
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        name = torch.cuda.get_device_name(index)
        free, total = torch.cuda.mem_get_info(index)
        check = Check(
            "GPU",
            f"{name}, {_size(free)} free of {_size(total)}",
            details={"name": name, "free_bytes": free, "total_bytes": total},
        )
        if free < LOW_MEMORY:
            check.status = WARNING
            check.fix = "close other programs that use the GPU; large models need several GB"
        return check
    if torch.backends.mps.is_available():
        return Check("GPU", "Apple GPU (MPS), sharing the memory above", details={"name": "mps"})
    return Check("GPU", "none that torch can use", details={"name": None})


def _libraries() -> Check:
    versions, missing = {}, []
    for name in ("diffusers", "transformers", "PySide6-Essentials"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    text = ", ".join(f"{name} {version}" for name, version in versions.items())
    if missing:
        return Check(
            "Libraries",
            f"{', '.join(missing)} missing" + (f" ({text})" if text else ""),
            PROBLEM,
            REINSTALL,
            versions,
        )
    return Check("Libraries", text, details=versions)


def _memory() -> Check:
    total, available = _ram()
    if total is None or available is None:
        return Check("Memory", "unknown on this system", details={"total_bytes": None, "available_bytes": None})
    check = Check(
        "Memory",
        f"{_size(available)} free of {_size(total)}",
        details={"total_bytes": total, "available_bytes": available},
    )
    if available < LOW_MEMORY:
        check.status = WARNING
        check.fix = "close other programs; the embedded model needs little, an SD model needs 4 GB or more"
    return check


def _ram() -> tuple[int | None, int | None]:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemTotal"].split()[0]) * 1024, int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    if sys.platform == "win32":
        import ctypes

        class Status(ctypes.Structure):
            _fields_ = [
                ("length", ctypes.c_ulong),
                ("load", ctypes.c_ulong),
                ("total", ctypes.c_ulonglong),
                ("available", ctypes.c_ulonglong),
                ("total_page", ctypes.c_ulonglong),
                ("available_page", ctypes.c_ulonglong),
                ("total_virtual", ctypes.c_ulonglong),
                ("available_virtual", ctypes.c_ulonglong),
                ("available_extended", ctypes.c_ulonglong),
            ]

        status = Status()
        status.length = ctypes.sizeof(Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return status.total, status.available
        return None, None
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page
    except (ValueError, OSError, AttributeError):
        return None, None
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * page
    except (ValueError, OSError):
        available = None
    return total, available


def _qt() -> Check:
    try:
        version = metadata.version("PySide6-Essentials")
    except metadata.PackageNotFoundError:
        return Check("Qt", "PySide6 is not installed: the window cannot open", PROBLEM, REINSTALL)
    asked = os.environ.get("QT_QPA_PLATFORM", "")
    details: dict = {"pyside6": version, "platform": None, "asked": asked or None}
    if sys.platform.startswith("linux") and not asked and not _display():
        return Check(
            "Qt",
            f"PySide6 {version}; no display here (DISPLAY and WAYLAND_DISPLAY are unset): the window cannot open",
            WARNING,
            "open Studio from a desktop session; the commands work anywhere (studio generate PROMPT --out FILE)",
            details,
        )
    if getattr(sys, "frozen", False):  # a bundle: no interpreter to probe with
        return Check("Qt", f"PySide6 {version} (bundled)", details=details)
    probe = "from PySide6.QtGui import QGuiApplication\napp = QGuiApplication(['studio'])\nprint(app.platformName())\n"
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=QT_PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return Check(
            "Qt",
            f"PySide6 {version}; the platform plugin did not start in {QT_PROBE_TIMEOUT_S} s",
            WARNING,
            "",
            details,
        )
    if result.returncode == 0 and result.stdout.strip():
        details["platform"] = result.stdout.strip().splitlines()[-1]
        return Check("Qt", f"PySide6 {version}, platform {details['platform']}", details=details)
    said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    display = next((line for line in said if "could not connect to display" in line), "")
    if display:
        reason = display
        fix = "check that DISPLAY names a running X server (from SSH: ssh -X); the commands work without the window"
    elif "xcb-cursor" in result.stderr and _missing_library("xcb-cursor"):
        reason = "libxcb-cursor is missing (Qt's xcb plugin needs it)"
        fix = "install libxcb-cursor0 (Debian, Ubuntu: sudo apt install libxcb-cursor0; Fedora: xcb-util-cursor)"
    else:
        reason = next((line for line in said if "Could not load" in line), said[-1] if said else "it ended at once")
        fix = "run QT_DEBUG_PLUGINS=1 studio to see which library is missing; the commands work without the window"
    return Check("Qt", f"PySide6 {version}; the window cannot open: {reason}", WARNING, fix, details)


def _missing_library(name: str) -> bool:
    from ctypes.util import find_library

    return find_library(name) is None


def _display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _data_folder(folder: Path) -> Check:
    details: dict = {"path": str(folder), "exists": folder.exists(), "writable": False, "free_bytes": None}
    fix = (
        f"make {folder} writable, or choose another folder: studio --data-dir DIR, "
        "or set STUDIO_DATA_DIR=DIR for every run"
    )
    if folder.exists() and not folder.is_dir():
        return Check("Data folder", f"{folder} is not a folder", PROBLEM, fix, details)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check("Data folder", f"{folder} cannot be made: {existing} is not a folder", PROBLEM, fix, details)
    free = shutil.disk_usage(existing).free
    details["free_bytes"] = free
    reason = _write_probe(existing)
    if reason:
        return Check("Data folder", f"{folder} cannot be written ({existing}: {reason})", PROBLEM, fix, details)
    details["writable"] = True
    state = "writable" if details["exists"] else "will be made when first used"
    check = Check("Data folder", f"{folder} ({state}, {_size(free)} free)", details=details)
    if free < LOW_DISK:
        check.status = WARNING
        check.fix = "free some space there, or choose a folder on another disk with --data-dir DIR"
    return check


def _write_probe(folder: Path) -> str:
    """Why a file cannot be made in `folder` ('' when it can); the file is removed at once."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".studio-doctor-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _models(folder: Path) -> Check:
    from studio.library.catalog import Library
    from studio.paths import MODEL_KINDS

    if not folder.is_dir():
        counts = dict.fromkeys(MODEL_KINDS, 0)
        return Check("Models", "none yet (the embedded model is always there)", details={"counts": counts})
    entries = Library(folder).entries()
    counts = {kind: sum(1 for e in entries if e.kind == kind) for kind in MODEL_KINDS}
    broken = [e for e in entries if e.problem]
    words = {"checkpoints": "checkpoint", "loras": "LoRA", "embeddings": "embedding", "vae": "VAE"}
    text = ", ".join(f"{n} {words[kind]}{'' if n == 1 else 's'}" for kind, n in counts.items())
    check = Check("Models", text, details={"counts": counts, "with_problems": len(broken)})
    if broken:
        check.status = WARNING
        check.value += f"; {len(broken)} cannot be used"
        check.fix = "studio models list shows each one's problem"
    return check


def _embedded() -> Check:
    from studio.engine import models
    from studio.errors import StudioError

    path = models.embedded_model_path()
    details = {"path": str(path)}
    try:
        info = models.resolve_model("embedded")
    except StudioError as exc:
        return Check("Embedded model", str(exc), PROBLEM, REINSTALL, details)
    return Check("Embedded model", f"{info.name} ({path})", details=details)


def _size(count: int) -> str:
    return f"{count / GB:.1f} GB"


def _print(checks: list[Check], usable: bool) -> None:
    from studio.cli_gallery import printable

    width = max(len(c.name) for c in checks) + 2
    marks = {OK: " ", WARNING: "!", PROBLEM: "X"}
    for check in checks:
        print(f"{marks[check.status]} {check.name.ljust(width)}{printable(check.value)}")
    todo = [c for c in checks if c.status != OK and c.fix]
    if todo:
        print()
        print("What to do:")
        for check in todo:
            print(f"  {check.name}: {printable(check.fix)}")
    print()
    if usable:
        print("Studio can run here.")
    else:
        print("Studio cannot run here until the problems marked X are fixed.")
