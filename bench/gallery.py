"""Does the gallery stay fast with tens of thousands of images?

1. First screen, warm thumbnail cache: open the gallery panel (index opened, listing
   queried, grid laid out, every visible thumbnail read from the disk cache and shown) for
   a gallery of 10,000 images and one of 100, alternated, median of several runs each, in
   one process; prints the ratio (goal <= 2x). The background sync with the folder runs
   during it, as it does in the app.
2. Cold indexing: a new index built from the files, in images per second, and the time
   to make thumbnails with a cold cache.
3. Jumping to the middle of the 10,000 (thumbnails not cached there): time until that
   screen's thumbnails show.

The galleries are synthetic: small PNGs with Studio recipes, written without the model.
Run: python bench/gallery.py [--large 10000] [--small 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait(app, done, timeout=120.0) -> float:
    began = time.perf_counter()
    while not done():
        app.processEvents()
        if time.perf_counter() - began > timeout:
            raise TimeoutError("the gallery did not show its first screen in time")
        time.sleep(0.001)
    return time.perf_counter() - began


def first_screen(app, data: Path, complete: list[float]) -> tuple[float, int]:
    """Seconds from opening the panel to every visible thumbnail shown; and how many showed.

    Appends to `complete` the seconds until the whole listing was in the model.
    """
    from PySide6.QtCore import QEvent, QObject

    from studio.model.gallery import GalleryModel
    from studio.ui.gallery_panel import GalleryPanel

    painted: list[float] = []

    class PaintWatch(QObject):
        """Notes the first paint of the grid that shows every visible thumbnail."""

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and not painted:
                rows = view.visible_rows()
                if rows and model.thumbnails_ready(rows):
                    painted.append(time.perf_counter())
            return False

    began = time.perf_counter()
    model = GalleryModel(data)
    panel = GalleryPanel(model)
    view = panel.view
    watch = PaintWatch()
    view.viewport().installEventFilter(watch)
    panel.resize(440, 860)
    panel.show()
    model.start()
    _wait(app, lambda: bool(painted))
    elapsed = painted[0] - began
    shown = sum(1 for r in view.visible_rows() if model.name_at(r))
    _wait(app, lambda: model.listing_complete)
    complete.append(time.perf_counter() - began)
    _wait(app, lambda: not model._syncing)
    panel.close()
    model.close()
    panel.deleteLater()
    app.processEvents()
    return elapsed, shown


def jump_to_middle(app, data: Path) -> float:
    from studio.model.gallery import GalleryModel
    from studio.ui.gallery_panel import GalleryPanel

    model = GalleryModel(data)
    panel = GalleryPanel(model)
    panel.resize(440, 860)
    panel.show()
    model.start()
    _wait(app, lambda: model.rowCount() > 0 and not model._syncing)
    view = panel.view
    _wait(app, lambda: view.verticalScrollBar().maximum() > 10 * view.viewport().height())  # batched layout done enough
    began = time.perf_counter()
    view.scrollTo(model.index(model.rowCount() // 2))
    _wait(app, lambda: bool(view.visible_rows()) and model.thumbnails_ready(view.visible_rows()))
    elapsed = time.perf_counter() - began
    panel.close()
    model.close()
    app.processEvents()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=600, help="newest thumbnails made before the warm runs")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from studio.gallery.store import Gallery
    from studio.gallery.thumbnails import cached_thumbnail, thumbnail_key
    from studio.testing.gallery_samples import fast_gallery
    from studio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app, "dark")
    base = Path(tempfile.mkdtemp(prefix="studio-gallery-bench-"))
    try:
        sizes = {"small": args.small, "large": args.large}
        datas = {}
        for label, count in sizes.items():
            datas[label] = base / label
            began = time.perf_counter()
            # Both made at the same pace, 50 images a day, so the first screens look alike.
            fast_gallery(datas[label] / "gallery", count, days=max(1, count // 50), seed=1 if label == "large" else 2)
            print(f"wrote {count:,} images in {time.perf_counter() - began:.1f} s")

        # 2. Cold indexing and cold thumbnails.
        for label, count in sizes.items():
            gallery = Gallery(datas[label])
            began = time.perf_counter()
            gallery.sync()
            elapsed = time.perf_counter() - began
            print(f"cold index of {count:,} images: {elapsed:.2f} s = {count / elapsed:,.0f} images/s")
            rows = gallery.query(limit=args.warm)
            began = time.perf_counter()
            for row in rows:
                cached_thumbnail(
                    gallery.path(row.name), gallery.thumbnails, thumbnail_key(row.name, row.mtime_ns, row.size)
                )
            elapsed = time.perf_counter() - began
            if label == "large":
                print(
                    f"cold thumbnails: {len(rows) / elapsed:,.0f} per second (one thread, {len(rows)} newest made for the warm runs)"
                )
            gallery.close()

        # 1. First screen with a warm cache, alternated.
        times: dict[str, list[float]] = {"small": [], "large": []}
        shown = {}
        listed: dict[str, list[float]] = {"small": [], "large": []}
        first_screen(app, datas["small"], [])  # warm-up: imports, fonts, file cache
        for _ in range(args.runs):
            for label in ("large", "small"):
                elapsed, shown[label] = first_screen(app, datas[label], listed[label])
                times[label].append(elapsed)
        small, large = statistics.median(times["small"]), statistics.median(times["large"])
        print(
            f"first screen, warm cache ({shown['small']} thumbnails): {args.small:,} images {small * 1000:.0f} ms, "
            f"{args.large:,} images {large * 1000:.0f} ms (medians of {args.runs})"
        )
        print(f"ratio {args.large:,} / {args.small:,}: {large / small:.2f}x (goal <= 2x)")
        print(
            f"whole listing in the model: {args.small:,} images {statistics.median(listed['small']) * 1000:.0f} ms, "
            f"{args.large:,} images {statistics.median(listed['large']) * 1000:.0f} ms"
        )

        # 3. Jump into the middle of the large gallery (cold thumbnails there).
        print(
            f"jump to the middle of {args.large:,}, cold thumbnails: {jump_to_middle(app, datas['large']) * 1000:.0f} ms to a full screen"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
