#!/usr/bin/env bash
# Screenshots of outpainting and inpainting in the real window under Xvfb.
# Needs: xvfb openbox imagemagick.   scripts/screenshot_outpaint.sh OUT_DIR [MODEL] [PROMPT]
set -euo pipefail
out="${1:-/tmp/studio-outpaint}"
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $wm $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY="$display" openbox >/dev/null 2>&1 &
wm=$!
sleep 1
DISPLAY="$display" QT_QPA_PLATFORM=xcb "$python" "$root/scripts/screenshot_outpaint.py" "$out" "${@:2}"
