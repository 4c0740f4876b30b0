# Sourced by the screenshot scripts: a private X display (Xvfb at 1280x800) with a window
# manager, and helpers to start the real Studio window on it and wait for it to show.
# Sets: display, root. Needs (Debian packages): xvfb openbox xdotool imagemagick libxcb-cursor0
# (Qt 6's xcb platform plugin will not load without libxcb-cursor0).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
display=":$((90 + RANDOM % 9))"
studio=""
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
sleep 1
DISPLAY="$display" openbox >/dev/null 2>&1 &
wm=$!
trap 'kill $studio $wm $xvfb 2>/dev/null || true' EXIT
sleep 1

# start_studio DATA_DIR LOG_FILE: the installed `studio` (the venv's first) on the display.
start_studio() {
  local app="$root/.venv/bin/studio"
  [ -x "$app" ] || app="studio"
  DISPLAY="$display" "$app" --data-dir "$1" >"$2" 2>&1 &
  studio=$!
}

# wait_for_window LOG_FILE: sets `window` to the Studio window's id, or exits naming the log.
wait_for_window() {
  window=""
  for _ in $(seq 1 60); do
    window="$(DISPLAY="$display" xdotool search --onlyvisible --name '^Studio$' 2>/dev/null | tail -1 || true)"
    [ -n "$window" ] && break
    sleep 0.5
  done
  if [ -z "$window" ]; then echo "the Studio window did not appear; see $1" >&2; exit 1; fi
}
