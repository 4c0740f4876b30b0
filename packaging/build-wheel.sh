#!/usr/bin/env bash
# Build Studio's wheel into dist/. The embedded model's weights live in assets/ beside the
# package and are used from a source checkout (./dev.sh start), not from the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip wheel --no-deps -w dist .
