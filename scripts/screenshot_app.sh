#!/usr/bin/env bash
# Start the real Studio window under Xvfb, type a prompt, generate, and take screenshots
# before and after, the way a person would drive it. Needs: xvfb xdotool openbox imagemagick.
#   scripts/screenshot_app.sh OUT_DIR [MODEL] [PROMPT]
set -euo pipefail
out="${1:-/tmp/studio-shots}"
model="${2:-embedded}"
prompt="${3:-a sunset landscape with snowy hills, mountains, two pine trees, a lake}"
mkdir -p "$out"
data="$(mktemp -d)"
printf '{"model": "%s", "count": 1}\n' "$model" > "$data/settings.json"
# shellcheck source=scripts/xvfb_session.sh
. "$(dirname "$0")/xvfb_session.sh"
start_studio "$data" "$out/studio.log"
wait_for_window "$out/studio.log"
sleep 4
DISPLAY="$display" xdotool windowactivate "$window" 2>/dev/null || true
DISPLAY="$display" xdotool type --delay 20 "$prompt"
DISPLAY="$display" import -window root "$out/before.png"
DISPLAY="$display" xdotool key ctrl+Return
sleep "${WAIT:-1.5}"
DISPLAY="$display" import -window root "$out/during.png"
for _ in $(seq 1 120); do
  ls "$data/gallery/"*.png >/dev/null 2>&1 && break
  sleep 0.5
done
sleep 1
DISPLAY="$display" import -window root "$out/after.png"
DISPLAY="$display" xdotool key ctrl+q
sleep 1
echo "screenshots in $out; gallery: $(ls "$data/gallery" 2>/dev/null | wc -l) image(s)"
