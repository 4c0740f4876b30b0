#!/usr/bin/env bash
# The wheel works by itself: build it, install it into a fresh virtualenv, and use it from
# outside the source tree, offline: `studio --version`, `studio doctor`, one picture from the
# embedded model, and the window (offscreen) up to its first step. Run by .ci/run after the tests.
#   packaging/check-wheel.sh
# torch is installed first and pinned ($STUDIO_TORCH, default torch==2.13.0), as a person
# would pick it (README, Install); a bare "torch" could pull a multi-GB CUDA build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
torch_pin="${STUDIO_TORCH:-torch==2.13.0}"
# The virtualenv (1.5 GB, mostly torch) goes to memory where there is room: on a slow disk,
# writing and removing it there takes minutes.
scratch="${STUDIO_CHECK_DIR:-${TMPDIR:-/tmp}}"
if [ -z "${STUDIO_CHECK_DIR:-}" ] && [ -w /dev/shm ] \
  && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt $((4 * 1024 * 1024)) ]; then
  scratch=/dev/shm
fi
work="$(mktemp -d "$scratch/studio-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

wheel="$("$root/packaging/build-wheel.sh" "$work/dist")"
echo "wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KB"
"$python" - "$wheel" <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
wanted = [
    "studio/assets/models/landscape/model_index.json",
    "studio/assets/models/landscape/unet/diffusion_pytorch_model.safetensors",
    "studio/assets/judge/judge.safetensors",
    "studio/assets/icons/studio.svg",
    "studio/assets/icons/studio-256.png",
]
missing = [name for name in wanted if name not in names]
if missing:
    sys.exit(f"check-wheel: the wheel lacks {', '.join(missing)}")
PY

"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$torch_pin"
"$work/venv/bin/python" -m pip install --quiet "$wheel"
echo "installed in $((SECONDS - started)) s"

cd "$work"  # nothing of the checkout on the path
export HF_HUB_OFFLINE=1 STUDIO_DATA_DIR="$work/data" STUDIO_NO_PROGRESS=1 QT_QPA_PLATFORM=offscreen
studio="$work/venv/bin/studio"
"$studio" --version
"$studio" doctor
"$studio" generate "a lake at dawn" --steps 2 --width 128 --height 128 --seed 1 --out "$work/x.png"
"$work/venv/bin/python" - "$work/x.png" "$root" <<'PY'
import sys
from pathlib import Path

from PIL import Image

import studio

with Image.open(sys.argv[1]) as image:
    assert image.format == "PNG" and image.size == (128, 128), (image.format, image.size)
    assert "parameters" in image.info, "the PNG carries no recipe"
where = Path(studio.__file__).resolve()
assert Path(sys.argv[2]).resolve() not in where.parents, f"Studio was imported from the checkout: {where}"
print(f"ok: a 128 x 128 PNG from the installed wheel ({where.parent})")
PY
# The window too: it opens on the embedded model, loads it and makes the first step of a picture.
mkdir -p "$work/window"
"$work/venv/bin/python" -m studio.testing.window_states generating "$work/window" --deadline 240 | tee "$work/window.log"
grep '^closing .*"loaded": true' "$work/window.log" >/dev/null
echo "check-wheel: passed in $((SECONDS - started)) s"
