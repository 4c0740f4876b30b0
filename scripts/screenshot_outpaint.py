"""Drive the real Studio window through an outpaint and an inpaint, taking screenshots on the way.

Run under an X server (scripts/screenshot_outpaint.sh starts Xvfb and a window manager):
    python scripts/screenshot_outpaint.py OUT_DIR [MODEL] [PROMPT]
Mouse events go to the canvas as a person's would; screenshots are of the whole screen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.app import StudioApp
from studio.ui.handles import HANDLES, handle_point

LEFT = Qt.MouseButton.LeftButton


def pause(app, seconds: float) -> None:
    """Let the window work; sleeping (unlike QTest.qWait) lets the worker thread have Python."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait_for(app, condition, seconds: float = 300) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        pause(app, 0.05)
    raise TimeoutError(f"the window did not get there in time ({studio_status(app)})")


def studio_status(app) -> str:
    windows = [w for w in app.topLevelWidgets() if hasattr(w, "model_status")]
    return (windows[0].model_status.text() + " · " + windows[0].progress.format()) if windows else "no window"


def shot(app, out: Path, name: str) -> None:
    pause(app, 0.3)
    subprocess.run(["import", "-window", "root", str(out / name)], check=True)
    print("wrote", out / name)


def move(canvas, pos: QPoint) -> None:
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(canvas.mapToGlobal(pos)),
        LEFT,
        LEFT,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(canvas, event)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/studio-outpaint")
    model = sys.argv[2] if len(sys.argv) > 2 else "embedded"
    prompt = (
        sys.argv[3] if len(sys.argv) > 3 else "a sunset landscape with snowy hills, mountains, two pine trees, a lake"
    )
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp())
    (data / "settings.json").write_text(
        json.dumps({"model": model, "count": 1, "random_seed": False, "seed": 3, "candidates": 3})
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    studio = StudioApp(app, data)
    loaded = []
    studio.worker.modelLoaded.connect(lambda *a: loaded.append(a))
    studio.worker.modelFailed.connect(lambda ref, message: sys.exit(f"cannot load {ref}: {message}"))
    studio.worker.jobFailed.connect(lambda job, message: print("job failed:", message, file=sys.stderr))
    studio.start()
    wait_for(app, lambda: bool(loaded))
    window, canvas = studio.window, studio.window.canvas
    window.activateWindow()

    window.controls.prompt.setPlainText(prompt)
    finished = []
    studio.worker.jobFinished.connect(lambda job, _: finished.append(job))
    window.controls.generate.click()
    wait_for(app, lambda: len(finished) == 1)
    shot(app, out, "1-generated.png")

    # Drag the right edge out by half the picture, holding it to show the zones.
    name = "right"
    start = handle_point(canvas.image_rect(), name).toPoint()
    QTest.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start)
    sx, _sy = HANDLES[name]
    reach = studio.edits.size[0] * 0.5 * canvas.zoom
    for k in range(1, 9):
        move(canvas, start + QPoint(round(sx * reach * k / 8), 0))
        app.processEvents()
    shot(app, out, "2-dragging.png")
    QTest.mouseRelease(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start + QPoint(round(sx * reach), 0))
    shot(app, out, "3-extended.png")

    steps = []
    studio.worker.previewReady.connect(lambda job, index, step, image: steps.append(step))
    studio.session.set("steps", 80)  # slow enough to catch the previews
    window.edit_bar.outpaint.click()
    wait_for(app, lambda: len(steps) >= 6)
    shot(app, out, "3b-previewing.png")
    wait_for(app, lambda: len(finished) == 2)
    shot(app, out, "4-candidates.png")
    window.candidate_bar.next.click()
    shot(app, out, "5-candidate-2.png")
    window.timeline.slider.setValue(12)  # the candidate's own steps, on the whole canvas
    shot(app, out, "5b-candidate-2-step-13.png")
    window.timeline.slider.setValue(window.timeline.slider.maximum())
    window.candidate_bar.accept.click()
    shot(app, out, "6-accepted.png")

    # Paint over a region and regenerate it.
    window.edit_bar.set_tool("brush")
    window.edit_bar.size_slider.setValue(24)
    rect = canvas.image_rect()
    a = (rect.topLeft() + QPointF(rect.width() * 0.2, rect.height() * 0.55)).toPoint()
    b = (rect.topLeft() + QPointF(rect.width() * 0.45, rect.height() * 0.7)).toPoint()
    QTest.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 11):
        move(canvas, a + (b - a) * k / 10)
    QTest.mouseRelease(canvas, LEFT, Qt.KeyboardModifier.NoModifier, b)
    shot(app, out, "7-brushed.png")
    window.edit_bar.inpaint.click()
    wait_for(app, lambda: len(finished) == 3)
    window.candidate_bar.accept.click()
    shot(app, out, "8-inpainted.png")

    # A corner drag: two sides at once.
    window.edit_bar.set_tool("extend")
    name = "bottom-left"
    start = handle_point(canvas.image_rect(), name).toPoint()
    QTest.mousePress(canvas, LEFT, Qt.KeyboardModifier.NoModifier, start)
    reach = 40 * canvas.zoom
    for k in range(1, 9):
        move(canvas, start + QPoint(round(-reach * k / 8), round(reach * k / 8)))
        app.processEvents()
    shot(app, out, "9-dragging-corner.png")
    QTest.keyClick(canvas, Qt.Key.Key_Escape)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
