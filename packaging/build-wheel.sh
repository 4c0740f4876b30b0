#!/usr/bin/env bash
# Build Studio's wheel: packaging/build-wheel.sh [OUT_DIR] (default dist/). The wheel carries
# everything Studio needs at run time (the embedded model, the judge, the icons: studio/assets/)
# but not torch, which each machine picks for itself (README, Install).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
"${PYTHON:-python3}" -m pip wheel --quiet --no-deps --wheel-dir "$out" "$root"
ls "$out"/studio-*.whl
