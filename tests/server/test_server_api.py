"""`studio serve` driven as AUTOMATIC1111 clients drive it (webuiapi) and with Studio's own client."""

from __future__ import annotations

import base64
import http.client
import io
import json
import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.server.conftest import PASSWORD, STUDIO, USER, png_of, start_server, stop_server

SMALL = {"width": 64, "height": 64, "steps": 2}
# Sums split over another number of CPU threads may round differently, so the server's replica
# and the local engine it is compared with use the same number.
THREADS = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(
        tmp_path_factory.mktemp("serve"), "--replicas", "1", "--max-queue", "12", "--threads", str(THREADS)
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def api(server):
    import webuiapi

    return webuiapi.WebUIApi(host="127.0.0.1", port=server.port, username=USER, password=PASSWORD, steps=2)


@pytest.fixture(scope="module")
def local_engine():
    import torch

    from studio.engine.runner import Engine

    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield Engine(device="cpu")
    torch.set_num_threads(previous)


def _recipe(image):
    from studio.recipe.walker import inspect_bytes

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=_info(image))
    return inspect_bytes(buffer.getvalue()).to_recipe()


def _info(image):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in image.info.items():
        if isinstance(value, str):
            info.add_text(key, value)
    return info


def test_txt2img_through_webuiapi_returns_images_whose_recipe_reads_back(api):
    result = api.txt2img(prompt="a hill at dawn", seed=41, batch_size=2, sampler_name="Euler", **SMALL)
    assert len(result.images) == 2
    assert [image.size for image in result.images] == [(64, 64), (64, 64)]
    recipes = [_recipe(image) for image in result.images]
    assert [r.request.seed for r in recipes] == [41, 42]
    assert recipes[0].request.prompt == "a hill at dawn"
    assert recipes[0].request.scheduler == "Euler"
    assert recipes[0].model_name == "Studio landscape (embedded)"
    assert result.info["all_seeds"] == [41, 42]
    assert "Steps: 2" in result.info["infotexts"][0]


def test_txt2img_pixels_equal_the_local_engine(api, local_engine):
    from studio.engine.models import resolve_model

    result = api.txt2img(prompt="a lake", seed=7, sampler_name="Euler a", cfg_scale=6.0, **SMALL)
    request = resolve_model("embedded").defaults.request(
        "embedded", prompt="a lake", seed=7, scheduler="Euler a", guidance_scale=6.0, **SMALL
    )
    local = local_engine.run(request)
    assert np.array_equal(np.asarray(result.images[0].convert("RGB")), np.asarray(local.results[0].image))


def test_unknown_fields_are_ignored_and_bad_values_get_the_cli_messages(server):
    status, body, _ = server.call("POST", "/sdapi/v1/txt2img", {"prompt": "x", "no_such_field": [1, 2], **SMALL})
    assert status == 200 and len(body["images"]) == 1
    cases = [
        ({"width": 65}, "width 65 is not a multiple of 8; the nearest valid sizes are 64 and 72"),
        ({"steps": "many"}, "steps must be a whole number, not 'many'"),
        ({"sampler_name": "Nope"}, "unknown scheduler 'Nope'"),
        ({"cfg_scale": 99}, "guidance scale must be 0 to 30, not 99"),
        ({"override_settings": {"sd_model_checkpoint": "/etc/passwd"}}, "unknown model '/etc/passwd'"),
        ({"batch_size": 101}, "batch count must be 1 to 100 on this server"),
    ]
    for change, message in cases:
        status, body, _ = server.call("POST", "/sdapi/v1/txt2img", {**SMALL, **change})
        assert status == 422, change
        assert body["detail"].startswith(message), body


def test_requests_over_the_limits_are_refused_before_any_work(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/sdapi/v1/txt2img")
    for key, value in {**server.headers, "Content-Type": "application/json", "Content-Length": str(33 << 20)}.items():
        connection.putheader(key, value)
    connection.endheaders(b"{" + b" " * 1024)  # the rest is never sent: the answer comes first
    response = connection.getresponse()
    assert response.status == 413 and "limit" in json.loads(response.read())["detail"]
    connection.close()
    status, body, _ = server.call("POST", "/sdapi/v1/txt2img", {"width": 4096, "height": 2048, "steps": 1})
    assert status == 422 and "too large" in body["detail"]
    status, body, _ = server.call("POST", "/sdapi/v1/txt2img", {"steps": 151, "width": 64, "height": 64})
    assert status == 422 and body["detail"] == "steps must be 1 to 150 on this server, not 151"


def test_auth_is_required_and_accepts_the_token_and_the_basic_form(server):
    status, _, headers = server.call("GET", "/sdapi/v1/sd-models", headers={})
    assert status == 401 and "Bearer" in headers.get("www-authenticate", headers.get("WWW-Authenticate", ""))
    assert server.call("GET", "/sdapi/v1/sd-models", headers={"Authorization": "Bearer wrong-token"})[0] == 401
    status, models, _ = server.call("GET", "/sdapi/v1/sd-models")
    assert status == 200 and models[0]["model_name"] == "embedded"
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert server.call("GET", "/sdapi/v1/samplers", headers={"Authorization": f"Basic {basic}"})[0] == 200
    wrong = base64.b64encode(f"{USER}:nope".encode()).decode()
    assert server.call("GET", "/sdapi/v1/samplers", headers={"Authorization": f"Basic {wrong}"})[0] == 401


def test_models_samplers_and_options(api, server):
    assert "Euler a" in [s["name"] for s in api.get_samplers()]
    assert api.get_options()["sd_model_checkpoint"] == "embedded"
    status, body, _ = server.call("POST", "/sdapi/v1/options", {"sd_model_checkpoint": "../models/x.safetensors"})
    assert status == 422 and body["detail"].startswith("unknown model")
    assert server.call("POST", "/sdapi/v1/options", {"sd_model_checkpoint": "embedded"})[0] == 200


def test_progress_shows_a_preview_a_full_queue_answers_503_and_interrupt_ends_the_job(api, server):
    results = {}

    def long_job():
        results["long"] = server.call(
            "POST",
            "/sdapi/v1/txt2img",
            {"prompt": "a long walk", "steps": 150, "width": 128, "height": 128, "batch_size": 10},
        )

    thread = threading.Thread(target=long_job)
    thread.start()
    seen = None
    while thread.is_alive() and seen is None:
        progress = api.get_progress()
        if progress["current_image"] and progress["progress"] > 0:
            seen = progress
        time.sleep(0.2)
    assert seen is not None, "no preview while the job ran"
    assert 0 < seen["progress"] < 1 and seen["eta_relative"] >= 0
    assert seen["state"]["sampling_steps"] == 150
    preview = Image.open(io.BytesIO(base64.b64decode(seen["current_image"])))
    assert preview.size == (128, 128)

    status, body, headers = server.call("POST", "/sdapi/v1/txt2img", {"prompt": "one more", "batch_size": 4, **SMALL})
    assert status == 503
    assert int(headers.get("Retry-After") or headers.get("retry-after")) >= 1

    api.interrupt()
    thread.join(timeout=120)
    assert not thread.is_alive()
    status, body, _ = results["long"]
    assert status == 200 and len(body["images"]) < 10
    assert api.get_progress()["state"]["job_count"] == 0


def test_img2img_with_a_mask_inpaints_and_a_border_mask_outpaints(api):
    picture = api.txt2img(prompt="a field", seed=3, **SMALL).images[0].convert("RGB")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    result = api.img2img(
        images=[picture], mask_image=mask, prompt="a pond", seed=5, denoising_strength=0.9, steps=2, width=64, height=64
    )
    inpainted = result.images[0]
    assert inpainted.size == (64, 64)
    assert _recipe(inpainted).kind == "inpaint"
    before, after = np.asarray(picture), np.asarray(inpainted.convert("RGB"))
    assert np.array_equal(before[:4], after[:4])  # past the blend band around the mask: untouched
    assert not np.array_equal(before[24:40, 24:40], after[24:40, 24:40])

    canvas = Image.new("RGB", (128, 64))
    canvas.paste(picture, (0, 0))
    border = Image.new("L", (128, 64), 255)
    border.paste(0, (0, 0, 64, 64))
    outpainted = api.img2img(
        images=[canvas], mask_image=border, prompt="a field", seed=6, steps=2, width=128, height=64
    ).images[0]
    recipe = _recipe(outpainted)
    assert outpainted.size == (128, 64)
    assert recipe.kind == "outpaint" and recipe.extra["extend"] == {"left": 0, "top": 0, "right": 64, "bottom": 0}


def test_the_studio_client_streams_events_and_matches_the_local_engine(server, local_engine):
    from studio.engine.models import resolve_model
    from studio.server_client import ServerClient

    client = ServerClient(server.url, server.token)
    seen = []
    kind, _ = client.run(
        {"kind": "txt2img", "prompt": "a boat", "seed": 11, "count": 2, "scheduler": "DDIM", **SMALL},
        lambda kind, data: seen.append((kind, data)),
    )
    assert kind == "finished"
    kinds = [k for k, _ in seen]
    assert kinds[0] == "started" and "step" in kinds and "preview" in kinds
    images = {d["index"]: d for k, d in seen if k == "image"}
    assert sorted(images) == [0, 1] and [images[i]["seed"] for i in (0, 1)] == [11, 12]
    request = resolve_model("embedded").defaults.request(
        "embedded", prompt="a boat", seed=11, count=2, scheduler="DDIM", **SMALL
    )
    local = local_engine.run(request)
    for index in (0, 1):
        remote = np.asarray(Image.open(io.BytesIO(images[index]["png"])).convert("RGB"))
        assert np.array_equal(remote, np.asarray(local.results[index].image))


def test_studio_outpaint_through_the_server_matches_the_local_engine(server, local_engine, tmp_path):
    from studio.engine.edit import EditRequest, extend_canvas
    from studio.engine.models import resolve_model
    from studio.server_client import ServerClient

    rng = np.random.default_rng(0)
    picture = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    client = ServerClient(server.url, server.token)
    images = []
    kind, _ = client.run(
        {
            "kind": "outpaint",
            "image": png_of(Image.fromarray(picture)),
            "extend": [0, 0, 32, 0],
            "prompt": "sea",
            "seed": 4,
            "steps": 2,
        },
        lambda kind, data: images.append(data) if kind == "image" else None,
    )
    assert kind == "finished" and len(images) == 1
    canvas, mask = extend_canvas(picture, 0, 0, 32, 0)
    request = resolve_model("embedded").defaults.request("embedded", prompt="sea", seed=4, steps=2)
    local = local_engine.run_edit(EditRequest(request, canvas, mask, extend=(0, 0, 32, 0)))
    remote = np.asarray(Image.open(io.BytesIO(images[0]["png"])).convert("RGB"))
    assert remote.shape == (64, 96, 3)
    assert np.array_equal(remote, np.asarray(local.results[0].image))


def test_a_client_that_goes_away_cancels_its_job(server, api):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps({"kind": "txt2img", "prompt": "gone", "steps": 150, "width": 128, "height": 128, "count": 9})
    connection.request("POST", "/studio/v1/jobs", body, {**server.headers, "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    while b"event: step" not in response.readline():
        pass
    assert api.get_progress()["state"]["job_count"] == 1
    connection.sock.shutdown(2)
    connection.close()
    for _ in range(600):
        if api.get_progress()["state"]["job_count"] == 0:
            break
        time.sleep(0.1)
    assert api.get_progress()["state"]["job_count"] == 0


def test_studio_generate_with_server_saves_into_the_local_gallery(server, tmp_path):
    data = tmp_path / "client"
    command = [
        *STUDIO,
        "generate",
        "a barn",
        "--server",
        server.url,
        "--token-file",
        str(server.data.parent / "token"),
        "--seed",
        "9",
        "--count",
        "2",
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "--json",
        "--data-dir",
        str(data),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["seed"] for r in records] == [9, 10]
    files = sorted((data / "gallery").glob("*.png"))
    assert len(files) == 2
    from studio.recipe.walker import inspect_file

    assert sorted(inspect_file(f).to_recipe().request.seed for f in files) == [9, 10]

    refused = subprocess.run(
        [*command[:-2], "--data-dir", str(tmp_path / "other"), "--width", "65"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == "studio: error: width 65 is not a multiple of 8; the nearest valid sizes are 64 and 72"
    )
    unauthorised = subprocess.run(
        [a for a in command if a != str(server.data.parent / "token") and a != "--token-file"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unauthorised.returncode == 1 and "token" in unauthorised.stderr


def test_img2img_without_a_mask_matches_the_local_engine(api, local_engine):
    from studio.engine.image_request import ImageRequest
    from studio.engine.models import resolve_model

    picture = api.txt2img(prompt="a field", seed=3, **SMALL).images[0].convert("RGB")
    result = api.img2img(
        images=[picture],
        prompt="a field at night",
        seed=8,
        denoising_strength=0.6,
        steps=4,
        width=64,
        height=64,
        batch_size=2,
    )
    assert [image.size for image in result.images] == [(64, 64), (64, 64)]
    recipe = _recipe(result.images[1])
    assert recipe.kind == "img2img" and recipe.request.seed == 9
    request = resolve_model("embedded").defaults.request(
        "embedded", prompt="a field at night", seed=8, steps=4, scheduler="Euler a", guidance_scale=7.0
    )  # webuiapi's own defaults
    local = local_engine.run_image(ImageRequest(request, np.asarray(picture), strength=0.6))
    assert np.array_equal(np.asarray(result.images[0].convert("RGB")), np.asarray(local.results[0].image))


def test_a_job_that_asks_for_no_previews_gets_none_and_every_images_last_step(server):
    from studio.server_client import ServerClient

    seen = []
    kind, _ = ServerClient(server.url, server.token).run(
        {"kind": "txt2img", "prompt": "a quiet bay", "seed": 3, "count": 2, "previews": False, **{**SMALL, "steps": 4}},
        lambda kind, data: seen.append((kind, data)),
    )
    assert kind == "finished"
    assert "preview" not in [k for k, _ in seen]
    last_steps = {}
    for k, data in seen:
        if k == "step":
            last_steps[data["index"]] = data["step"]
        elif k == "image":
            assert last_steps.get(data["index"]) == 4  # the last step came before the image
    assert sorted(last_steps) == [0, 1]


def test_the_remote_engine_gives_the_engines_events_and_pixels(server, local_engine):
    from studio.engine.events import Finished, ImageDone, Preview, Started, Step
    from studio.engine.models import resolve_model
    from studio.server_client import RemoteEngine

    engine = RemoteEngine(server.url, server.token)
    request = resolve_model("embedded").defaults.request("embedded", prompt="a mill", seed=21, count=2, **SMALL)
    events = []
    final = engine.run(request, events.append)
    assert isinstance(final, Finished) and events[-1] is final
    assert isinstance(events[0], Started)
    assert {type(e) for e in events} >= {Step, Preview, ImageDone}
    local = local_engine.run(request)
    for remote, mine in zip(final.results, local.results):
        assert remote.seed == mine.seed and remote.recipe.request == mine.recipe.request
        assert np.array_equal(np.asarray(remote.image), np.asarray(mine.image))


def test_the_remote_engine_inpaints_with_a_soft_mask_like_the_engine(server, local_engine):
    from studio.engine.edit import EditRequest
    from studio.engine.models import resolve_model
    from studio.server_client import RemoteEngine

    rng = np.random.default_rng(1)
    canvas = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:44, 20:44] = 128
    mask[26:38, 26:38] = 255
    generate = resolve_model("embedded").defaults.request("embedded", prompt="a rock", seed=2, steps=2, count=2)
    request = EditRequest(generate, canvas, mask, kind="inpaint", fill="noise", strength=0.8)
    remote = RemoteEngine(server.url, server.token).run_edit(request)
    local = local_engine.run_edit(request)
    assert len(remote.results) == 2
    for a, b in zip(remote.results, local.results):
        assert a.recipe.kind == "inpaint"
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_cancelling_the_remote_engine_cancels_the_job_on_the_server(server, api):
    from studio.engine.events import Cancelled, Step
    from studio.engine.models import resolve_model
    from studio.server_client import RemoteEngine

    cancel = threading.Event()
    request = resolve_model("embedded").defaults.request("embedded", prompt="x", steps=150, count=9)
    final = RemoteEngine(server.url, server.token).run(
        request, lambda e: cancel.set() if isinstance(e, Step) else None, cancel
    )
    assert isinstance(final, Cancelled)
    for _ in range(600):
        if api.get_progress()["state"]["job_count"] == 0:
            break
        time.sleep(0.1)
    assert api.get_progress()["state"]["job_count"] == 0


def test_studio_outpaint_with_server_writes_the_candidates(server, tmp_path):
    from studio.recipe.walker import inspect_file

    source = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)).save(source)
    out = tmp_path / "wide.png"
    command = [
        *STUDIO,
        "outpaint",
        str(source),
        "--right",
        "32",
        "--prompt",
        "sea",
        "--seed",
        "3",
        "--steps",
        "2",
        "--candidates",
        "2",
        "--out",
        str(out),
        "--server",
        server.url,
        "--token-file",
        str(server.data.parent / "token"),
        "--data-dir",
        str(tmp_path / "d"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = [tmp_path / "wide-1.png", tmp_path / "wide-2.png"]
    recipes = [inspect_file(path).to_recipe() for path in written]
    assert [r.request.seed for r in recipes] == [3, 4]
    assert all(r.kind == "outpaint" and (r.request.width, r.request.height) == (96, 64) for r in recipes)


def test_generate_with_a_prompts_file_sends_the_prompts_together(server, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red barn\na blue lake\na green hill\n")
    out = tmp_path / "out"
    command = [
        *STUDIO,
        "generate",
        "--prompts-file",
        str(prompts),
        "--server",
        server.url,
        "--token-file",
        str(server.data.parent / "token"),
        "--seed",
        "5",
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "--json",
        "--out-dir",
        str(out),
        "--data-dir",
        str(tmp_path / "d"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["prompt"] for r in records) == ["a blue lake", "a green hill", "a red barn"]
    assert len(list(out.glob("*.png"))) == 3


def test_the_windows_worker_runs_jobs_on_the_server(server, qtbot, tmp_path):
    from studio.engine.edit import EditRequest, extend_canvas
    from studio.recipe.walker import read_recipe
    from studio.server_client import RemoteEngine
    from studio.worker import Worker

    worker = Worker(tmp_path / "gallery", engine_factory=lambda: RemoteEngine(server.url, server.token))
    worker.start()
    try:
        with qtbot.waitSignal(worker.modelLoaded, timeout=60000) as loaded:
            worker.load_model("embedded")
        defaults = loaded.args[1]
        assert (defaults.width, defaults.height) == (128, 128)
        saved, previews = [], []
        worker.imageSaved.connect(saved.append)
        worker.previewReady.connect(lambda job, index, step, image: previews.append((image.width(), image.height())))
        request = defaults.request("embedded", prompt="a mill", seed=3, count=2, **SMALL)
        with qtbot.waitSignal(worker.jobFinished, timeout=120000):
            worker.submit(request)
        assert sorted(r.seed for r in saved) == [3, 4]
        assert all(read_recipe(r.path).request.seed == r.seed for r in saved)
        assert previews and set(previews) == {(8, 8)}  # as the local engine's: latent size

        saved.clear()
        previews.clear()
        canvas, mask = extend_canvas(np.zeros((64, 64, 3), np.uint8), right=32)
        edit = EditRequest(request.replace(count=1), canvas, mask, extend=(0, 0, 32, 0))
        with qtbot.waitSignal(worker.jobFinished, timeout=120000):
            worker.submit(edit)
        assert len(saved) == 1 and read_recipe(saved[0].path).kind == "outpaint"
        assert set(previews) == {(96, 64)}  # the whole canvas, as the engine's edit previews
    finally:
        assert worker.stop(10000)


def test_the_remote_engine_runs_img2img_like_the_engine(server, local_engine):
    from studio.engine.image_request import ImageRequest
    from studio.engine.models import resolve_model
    from studio.server_client import RemoteEngine

    picture = (np.random.default_rng(5).random((64, 64, 3)) * 255).astype(np.uint8)
    generate = resolve_model("embedded").defaults.request("embedded", prompt="dusk", seed=12, steps=4, count=2)
    request = ImageRequest(generate, picture, strength=0.5)
    remote = RemoteEngine(server.url, server.token).run_image(request)
    local = local_engine.run_image(request)
    assert [r.seed for r in remote.results] == [r.seed for r in local.results]
    for a, b in zip(remote.results, local.results):
        assert a.recipe.kind == "img2img"
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_the_window_makes_pictures_on_the_server_and_back_on_this_computer(server, qtbot, qapp, tmp_path):
    from studio.app import StudioApp
    from studio.model.engine_choice import EngineChoice, load_choice, save_choice
    from studio.recipe.walker import read_recipe

    data = tmp_path / "data"
    data.mkdir()
    settings = {"model": "embedded", "random_seed": False, "seed": 5, "width": 64, "height": 64, "steps": 2}
    (data / "settings.json").write_text(json.dumps(settings))
    save_choice(data, EngineChoice("server", server.url, server.token))
    assert (data / "engine.json").stat().st_mode & 0o077 == 0  # it holds the token
    studio = StudioApp(qapp, data, device="cpu")
    qtbot.addWidget(studio.window)
    try:
        with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
            studio.start()
        qtbot.waitUntil(lambda: studio.engine_status.text().endswith("· connected"), timeout=30000)
        assert studio.engine_status.text() == f"Engine: server {server.url} · connected"
        with qtbot.waitSignal(studio.worker.jobFinished, timeout=120000):
            studio.window.controls.generate.click()
        files = list(studio.gallery.glob("*.png"))
        assert len(files) == 1 and read_recipe(files[0]).request.seed == 5

        with qtbot.waitSignal(studio.worker.modelLoaded, timeout=60000):
            studio.set_engine("local")
        assert load_choice(data) == EngineChoice("local", "", "")
        assert studio.engine_status.text() == "Engine: this computer" and studio.worker.engine_factory is None
    finally:
        studio.window.close()
        assert studio.worker.wait(10000)


def test_the_engine_dialog_collects_the_server_and_shows_the_check(qtbot):
    from studio.ui.engine_dialog import EngineDialog

    dialog = EngineDialog("local", "", "")
    qtbot.addWidget(dialog)
    assert not dialog.url.isEnabled() and dialog.values() == ("local", "", "")
    dialog.server.setChecked(True)
    qtbot.keyClicks(dialog.url, "http://gpu-box:7860")
    qtbot.keyClicks(dialog.token, "secret-token-0123456789")
    with qtbot.waitSignal(dialog.checkRequested) as asked:
        dialog.check.click()
    assert asked.args == ["http://gpu-box:7860", "secret-token-0123456789"]
    assert dialog.answer.text() == "Checking…" and not dialog.check.isEnabled()
    dialog.checked.emit("cannot reach the server at http://gpu-box:7860: Name or service not known")
    assert dialog.answer.text().startswith("cannot reach") and dialog.check.isEnabled()
    assert dialog.values() == ("server", "http://gpu-box:7860", "secret-token-0123456789")


def test_the_remote_engine_upscales_like_the_engine(server, local_engine):
    from studio.engine.image_request import ImageRequest
    from studio.engine.models import resolve_model
    from studio.server_client import RemoteEngine

    picture = (np.random.default_rng(8).random((48, 40, 3)) * 255).astype(np.uint8)
    generate = resolve_model("embedded").defaults.request("embedded", prompt="hills", seed=4, steps=4)
    request = ImageRequest(generate, picture, strength=0.5, kind="upscale", scale=2.0)
    steps = []
    remote = RemoteEngine(server.url, server.token).run_image(request, steps.append)
    local = local_engine.run_image(request)
    assert type(remote).__name__ == "Finished", getattr(remote, "message", "")
    (a,), (b,) = remote.results, local.results
    assert a.image.size == (80, 96)
    assert (a.recipe.kind, a.recipe.extra.get("scale")) == ("upscale", 2.0)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_studio_upscale_with_server_writes_the_enlarged_picture(server, tmp_path):
    from studio.recipe.walker import inspect_file

    source = tmp_path / "small.png"
    Image.fromarray((np.random.default_rng(2).random((40, 48, 3)) * 255).astype(np.uint8)).save(source)
    out = tmp_path / "big.png"
    token = ["--token-file", str(server.data.parent / "token")]
    command = [*STUDIO, "upscale", str(source), "--scale", "1.5", "--steps", "2", "--prompt", "a field", "--seed", "6"]
    done = subprocess.run(
        [*command, "--out", str(out), "--server", server.url, *token], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    with Image.open(out) as image:
        assert image.size == (72, 60)
    recipe = inspect_file(out).to_recipe()
    assert (recipe.kind, recipe.request.seed, recipe.request.prompt) == ("upscale", 6, "a field")
    refused = subprocess.run(
        [*command, "--out", str(tmp_path / "x.png"), "--upscaler", "../../etc/x", "--server", server.url, *token],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == "studio: error: name an upscaler in the server's library (models/upscalers), not a path"
    )


# Last in this module: once the replica has a draft decoder, its previews are drawn with it.
def test_generate_quality_draft_with_server_draws_a_draft_picture(server, local_engine, tmp_path):
    from studio.engine.draft_decoder_training import TrainingPlan, distil
    from studio.engine.draft_decoders import DEFAULT_PLAN, draft_cache, vae_key
    from studio.recipe.walker import read_recipe

    # The server's decoder, put in its cache as `studio generate --quality draft` leaves it there;
    # fitted with a tiny plan (seconds, not minutes) under the default plan's key.
    vae = local_engine.load("embedded").pipe.vae
    key = vae_key(vae, DEFAULT_PLAN)
    tiny = TrainingPlan(pairs=16, held_out=4, tile=4, steps=20, width=16, generated=0)
    distil(vae, key, tiny).save(draft_cache(server.data) / f"{key[:32]}.safetensors")
    out = tmp_path / "draft.png"
    command = [*STUDIO, "generate", "a barn", "--seed", "9", "--steps", "2", "--width", "64", "--height", "64"]
    token = ["--token-file", str(server.data.parent / "token")]
    done = subprocess.run(
        [*command, "--quality", "draft", "--out", str(out), "--server", server.url, *token],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert read_recipe(out).request.quality == "draft"
