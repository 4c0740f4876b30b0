#!/usr/bin/env bash
# Screenshots of outpainting and inpainting in the real window under Xvfb.
# Needs: xvfb openbox imagemagick.   scripts/screenshot_outpaint.sh OUT_DIR [MODEL] [PROMPT]
set -euo pipefail
out="${1:-/tmp/studio-outpaint}"
# shellcheck source=scripts/xvfb_session.sh
. "$(dirname "$0")/xvfb_session.sh"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
DISPLAY="$display" QT_QPA_PLATFORM=xcb "$python" "$root/scripts/screenshot_outpaint.py" "$out" "${@:2}"
