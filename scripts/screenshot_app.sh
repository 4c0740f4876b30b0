#!/usr/bin/env bash
# Start the real Studio window under Xvfb, type a prompt, generate, and take screenshots
# before and after, the way a person would drive it. Needs: xvfb xdotool openbox imagemagick.
#   scripts/screenshot_app.sh OUT_DIR [MODEL] [PROMPT]
set -euo pipefail
out="${1:-/tmp/studio-shots}"
model="${2:-embedded}"
prompt="${3:-a sunset landscape with snowy hills, mountains, two pine trees, a lake}"
mkdir -p "$out"
root="$(cd "$(dirname "$0")/.." && pwd)"
app="$root/.venv/bin/studio"
[ -x "$app" ] || app="studio"
data="$(mktemp -d)"
printf '{"model": "%s", "count": 1}\n' "$model" > "$data/settings.json"
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $studio $wm $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY="$display" openbox >/dev/null 2>&1 &
wm=$!
sleep 1
DISPLAY="$display" "$app" --data-dir "$data" >"$out/studio.log" 2>&1 &
studio=$!
for _ in $(seq 1 60); do
  window="$(DISPLAY="$display" xdotool search --name '^Studio$' 2>/dev/null | head -1 || true)"
  [ -n "$window" ] && break
  sleep 0.5
done
if [ -z "$window" ]; then echo "the Studio window did not appear; see $out/studio.log" >&2; exit 1; fi
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
