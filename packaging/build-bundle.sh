#!/usr/bin/env bash
# Build Studio as a one-folder PyInstaller bundle (Linux, macOS) and try it:
#   packaging/build-bundle.sh [BUILD_DIR]      (default build/bundle)
# Makes a virtualenv in BUILD_DIR/venv with torch ($STUDIO_TORCH, default torch==2.13.0: pick
# the build for the machines the bundle is for, README, Install), Studio and PyInstaller; builds
# BUILD_DIR/dist/studio/ (and Studio.app on macOS); then runs the bundle from outside the
# checkout, offline: `studio --version` and one picture from the embedded model.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mkdir -p "${1:-$root/build/bundle}" && cd "${1:-$root/build/bundle}" && pwd)"
python="${PYTHON:-python3}"
torch_pin="${STUDIO_TORCH:-torch==2.13.0}"
started=$SECONDS

if [ ! -x "$build/venv/bin/python" ]; then
  "$python" -m venv "$build/venv"
fi
"$build/venv/bin/python" -m pip install --quiet "$torch_pin"
"$build/venv/bin/python" -m pip install --quiet "$root" "pyinstaller>=6.10"
"$build/venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$root"  # this checkout, always
echo "build-bundle: installed in $((SECONDS - started)) s"

(cd "$build" && "$build/venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$build/dist" --workpath "$build/work" "$root/packaging/studio.spec")
bundle="$build/dist/studio"
echo "build-bundle: built $bundle in $((SECONDS - started)) s, $(du -sh "$bundle" | cut -f1)"

# The smoke test: from an empty folder, offline, with a data folder of its own.
check="$(mktemp -d "${TMPDIR:-/tmp}/studio-bundle.XXXXXX")"
trap 'rm -rf "$check"' EXIT
cd "$check"
export HF_HUB_OFFLINE=1 STUDIO_DATA_DIR="$check/data" STUDIO_NO_PROGRESS=1
"$bundle/studio" --version
"$bundle/studio" generate "a lake at dawn" --steps 2 --width 128 --height 128 --seed 1 --out "$check/x.png"
"$build/venv/bin/python" -c "
import sys
from PIL import Image
with Image.open(sys.argv[1]) as image:
    assert image.format == 'PNG' and image.size == (128, 128), (image.format, image.size)
print('build-bundle: the bundle made a 128 x 128 PNG')
" "$check/x.png"
echo "build-bundle: passed in $((SECONDS - started)) s"
