#!/usr/bin/env bash
# Start the real Studio window under Xvfb on a gallery of rendered landscapes (plus images
# from other tools), click one, search, and take screenshots. Needs: xvfb xdotool openbox imagemagick.
#   scripts/screenshot_gallery.sh OUT_DIR [COUNT]
set -euo pipefail
out="${1:-/tmp/studio-gallery-shots}"
count="${2:-48}"
mkdir -p "$out"
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
data="$(mktemp -d)"
"$python" - "$data" "$count" <<'PY'
import os, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
sys.path.insert(0, os.getcwd())
from studio.embedded.world import caption, random_scene, render
from studio.recipe.embed import write_png
from studio.recipe.schema import Recipe
from studio.engine.request import GenerateRequest
from studio.gallery.store import Gallery
from studio.testing.gallery_samples import A1111_TEXT, COMFY_PROMPT, save_png_with_texts
import json
data, count = Path(sys.argv[1]), int(sys.argv[2])
folder = data / "gallery"
folder.mkdir(parents=True)
rng = np.random.default_rng(7)
now = time.time()
for i in range(count):
    scene = random_scene(rng)
    prompt = caption(scene)
    pixels = render(scene, 256, 256, rng=rng)
    request = GenerateRequest(prompt=prompt, seed=int(rng.integers(0, 2**31)), steps=20, guidance_scale=5.0,
                              width=256, height=256, scheduler="DPM++ 2M Karras", model="embedded")
    path = folder / f"landscape-{i:03d}.png"
    write_png(path, Image.fromarray(np.asarray(pixels, dtype=np.uint8)), Recipe(request=request, model_name="Studio landscape"))
    when = now - (count - i) * 3 * 3600  # a few a day, over several days
    os.utime(path, (when, when))
for name, texts in (("a1111.png", {"parameters": A1111_TEXT}), ("comfy.png", {"prompt": json.dumps(COMFY_PROMPT)})):
    save_png_with_texts(folder / name, texts, size=(192, 256))
(folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
gallery = Gallery(data)
gallery.sync()
gallery.set_favourite([f"landscape-{count - 2:03d}.png", f"landscape-{count - 5:03d}.png"], True)
gallery.close()
print(json.dumps({"model": "embedded", "count": 1}), file=open(data / "settings.json", "w"))
PY
# shellcheck source=scripts/xvfb_session.sh
. "$(dirname "$0")/xvfb_session.sh"
start_studio "$data" "$out/studio.log"
wait_for_window "$out/studio.log"
sleep "${WAIT:-5}"
DISPLAY="$display" xdotool windowactivate "$window" 2>/dev/null || true
DISPLAY="$display" import -window root "$out/gallery.png"
# Click the second thumbnail of the grid (the dock is on the right).
eval "$(DISPLAY="$display" xdotool getwindowgeometry --shell "$window")"; echo "window at $X,$Y size ${WIDTH}x$HEIGHT"
DISPLAY="$display" xdotool mousemove $((X + WIDTH - ${CELL_X:-200})) $((Y + ${CELL_Y:-340})) click 1
sleep 2
DISPLAY="$display" import -window root "$out/selected.png"
DISPLAY="$display" xdotool mousemove $((X + WIDTH - 300)) $((Y + 50)) click 1
DISPLAY="$display" xdotool type --delay 30 "${SEARCH:-night}"
sleep 1.5
DISPLAY="$display" import -window root "$out/search.png"
DISPLAY="$display" xdotool key ctrl+q
sleep 1
echo "screenshots in $out; data in $data"
