"""Draws the README's picture grid: the embedded model's images for a fixed set of prompts.

One cell per (time, ground) pair of the landscape world, rows day / sunset / night, columns
green / autumn / snowy / desert, the other attributes varied evenly; the three pairs the
model never trains on are marked "held out". Prompts are canonical captions and the seeds
are fixed (cell i uses seed i): the pictures are not picked. Each prompt is written under
its picture.

Run: python scripts/readme_grid.py [--model embedded|FOLDER] [--out assets/readme/grid.png]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.embedded.captions import caption  # noqa: E402
from studio.embedded.scene import Scene  # noqa: E402
from studio.embedded.splits import is_held_out  # noqa: E402

COLUMNS = 4
SCENES = (  # time, ground, body, mountains, lake, trees
    Scene("day", "green", "left", True, False, 2),
    Scene("day", "autumn", None, False, True, 1),
    Scene("day", "snowy", "right", True, True, 0),
    Scene("day", "desert", "right", False, False, 3),
    Scene("sunset", "green", "right", False, True, 0),
    Scene("sunset", "autumn", "left", True, False, 3),
    Scene("sunset", "snowy", None, True, False, 2),
    Scene("sunset", "desert", "left", False, True, 1),
    Scene("night", "green", None, True, True, 3),
    Scene("night", "autumn", "right", False, False, 2),
    Scene("night", "snowy", "left", False, True, 1),
    Scene("night", "desert", "right", True, False, 0),
)
SCALE = 2  # pictures are enlarged (nearest neighbour) so the captions fit under them
PADDING = 8
FONT_SIZE = 12
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (40, 40, 40)
NOTE_COLOUR = (150, 60, 40)
HELD_OUT_NOTE = "(held out: never seen in training)"


def generate(model: str, device: str | None) -> list:
    """One picture per scene at the model's default settings, cell i with seed i."""
    from studio.engine.events import Finished
    from studio.engine.models import resolve_model
    from studio.engine.runner import Engine

    engine = Engine(device=device)
    defaults = resolve_model(model).defaults
    images = []
    for seed, scene in enumerate(SCENES):
        final = engine.run(defaults.request(model, prompt=caption(scene), seed=seed), previews=False)
        if not isinstance(final, Finished):
            raise SystemExit(f"generation failed for {caption(scene)!r}: {final}")
        images.append(final.results[0].image)
    return images


def grid(images: list, scenes=SCENES, columns: int = COLUMNS, scale: int = SCALE):
    """The pictures in rows of `columns`, each with its prompt wrapped underneath."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=FONT_SIZE)
    cell_width = max(image.width for image in images) * scale
    picture_height = max(image.height for image in images) * scale
    characters = max(10, int(cell_width / font.getlength("n")))
    captions = []  # per cell, its lines and their colours
    for scene in scenes:
        lines = [(line, TEXT_COLOUR) for line in textwrap.wrap(caption(scene), characters)]
        if is_held_out(scene):
            lines += [(line, NOTE_COLOUR) for line in textwrap.wrap(HELD_OUT_NOTE, characters)]
        captions.append(lines)
    line_height = FONT_SIZE + 3
    text_height = max(map(len, captions)) * line_height
    cell_height = picture_height + PADDING + text_height
    rows = -(-len(images) // columns)
    sheet = Image.new(
        "RGB", (columns * (cell_width + PADDING) + PADDING, rows * (cell_height + PADDING) + PADDING), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    for index, (image, lines) in enumerate(zip(images, captions)):
        left = PADDING + (index % columns) * (cell_width + PADDING)
        top = PADDING + (index // columns) * (cell_height + PADDING)
        enlarged = image.convert("RGB").resize((image.width * scale, image.height * scale), Image.NEAREST)
        sheet.paste(enlarged, (left, top))
        for number, (line, colour) in enumerate(lines):
            draw.text((left, top + picture_height + PADDING // 2 + number * line_height), line, fill=colour, font=font)
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help='"embedded" or a model folder')
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "readme" / "grid.png")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best present)")
    args = parser.parse_args()
    sheet = grid(generate(args.model, args.device))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {len(SCENES)} pictures)")


if __name__ == "__main__":
    main()
