"""The models library: listing its own and extra folders in place, adding atomically, removing, settings."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from library import samples
from studio.engine.models import resolve_model, use_model_finder
from studio.errors import ModelError, StudioError
from studio.library.catalog import Library, LibraryEntry
from studio.library.copying import CopyCancelled
from studio.library.hashes import cache_path
from studio.paths import model_kind_dir, trash_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from studio.testing.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def library(data) -> Library:
    return Library(data)


def own(data: Path, kind: str, name: str) -> Path:
    return model_kind_dir(data, kind) / name


def by_name(entries: list[LibraryEntry]) -> dict[str, LibraryEntry]:
    return {e.name: e for e in entries}


def test_an_empty_library_lists_nothing(library, data):
    assert library.entries() == []
    assert library.folders() == []
    assert not data.exists()  # listing writes nothing


def test_checkpoints_are_listed_with_family_description_and_defaults(library, data):
    samples.checkpoint(own(data, "checkpoints", "one.safetensors"), "sd1")
    samples.checkpoint(own(data, "checkpoints", "Two.safetensors"), "sd2", v_pred=("F32", (0,)))
    samples.checkpoint(own(data, "checkpoints", "three.safetensors"), "sdxl", metadata={"tags": "turbo"})
    samples.checkpoint(own(data, "checkpoints", "four.safetensors"), "sd1", channels=9)
    entries = library.entries()
    assert [e.name for e in entries] == ["four", "one", "three", "Two"]
    found = by_name(entries)
    assert (found["one"].family, found["one"].description) == ("sd1", "SD 1.x")
    assert found["one"].defaults == {
        "steps": 20,
        "guidance_scale": 7.0,
        "scheduler": "DPM++ 2M Karras",
        "width": 512,
        "height": 512,
    }
    assert (found["Two"].family, found["Two"].description) == ("sd2", "SD 2.x, v-prediction")
    assert found["Two"].defaults["width"] == 768
    assert found["three"].description == "SDXL (Turbo)" and found["three"].defaults["steps"] == 1
    assert found["four"].description == "SD 1.x inpainting"
    for entry in entries:
        assert entry.kind == "checkpoints" and entry.location == "library" and entry.problem == ""
        assert entry.size == entry.path.stat().st_size and entry.short_hash == "" and entry.prediction is None


def test_loras_embeddings_and_vaes_get_their_kind_and_family(library, data, tiny):
    samples.lora(own(data, "loras", "a.safetensors"), "sd1")
    samples.lora(own(data, "loras", "b.safetensors"), "sd2")
    samples.lora(own(data, "loras", "c.safetensors"), "sdxl")
    samples.embedding(own(data, "embeddings", "d.safetensors"), "sd1")
    samples.embedding(own(data, "embeddings", "e.safetensors"), "sd2")
    samples.embedding(own(data, "embeddings", "f.safetensors"), "sdxl")
    samples.vae(own(data, "vae", "g.safetensors"))
    samples.vae_folder(own(data, "vae", "h"), tiny)
    got = {e.name: (e.kind, e.family, e.description, e.problem) for e in library.entries()}
    assert got == {
        "a": ("loras", "sd1", "LoRA (SD 1.x)", ""),
        "b": ("loras", "sd2", "LoRA (SD 2.x)", ""),
        "c": ("loras", "sdxl", "LoRA (SDXL)", ""),
        "d": ("embeddings", "sd1", "embedding (SD 1.x)", ""),
        "e": ("embeddings", "sd2", "embedding (SD 2.x)", ""),
        "f": ("embeddings", "sdxl", "embedding (SDXL)", ""),
        "g": ("vae", "", "VAE", ""),
        "h": ("vae", "", "VAE folder", ""),
    }
    assert [e.kind for e in library.entries()] == ["loras"] * 3 + ["embeddings"] * 3 + ["vae"] * 2
    assert [e.name for e in library.entries("embeddings")] == ["d", "e", "f"]
    assert by_name(library.entries())["h"].size == sum(f.stat().st_size for f in (tiny / "vae").iterdir())


def test_a_diffusers_folder_is_a_checkpoint(library, data, tiny):
    shutil.copytree(tiny, own(data, "checkpoints", "tiny"))
    (entry,) = library.entries()
    assert (entry.name, entry.kind, entry.problem) == ("tiny", "checkpoints", "")
    assert entry.description.startswith("diffusers folder")
    assert entry.defaults["steps"] == 4 and entry.defaults["width"] == 64  # its studio.json


def test_problems_are_listed_not_raised(library, data):
    samples.pickled(own(data, "checkpoints", "old.ckpt"))
    own(data, "checkpoints", "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    samples.lora(own(data, "checkpoints", "notone.safetensors"))
    samples.checkpoint(own(data, "loras", "wrongplace.safetensors"))
    got = by_name(library.entries())
    assert got["old"].problem == f"a Python pickle: convert it with studio models convert {got['old'].path}"
    assert "damaged" in got["cut"].problem
    assert "LoRA" in got["notone"].problem
    assert got["wrongplace"].problem == "it holds no tensors of a known layout, not a LoRA"
    assert all(e.defaults == {} for e in got.values())


def test_hidden_partial_and_incomplete_names_are_never_listed(library, data, tiny):
    folder = model_kind_dir(data, "checkpoints")
    samples.checkpoint(folder / ".x.safetensors.1a2b3c4d.partial", "sd1")
    samples.checkpoint(folder / ".hidden.safetensors", "sd1")
    samples.checkpoint(folder / "half.safetensors.partial", "sd1")
    samples.checkpoint(folder / "dl.safetensors.incomplete", "sd1")
    shutil.copytree(tiny, folder / ".tiny.0badc0de.partial")
    samples.checkpoint(folder / ".cache" / "inside.safetensors", "sd1")
    samples.checkpoint(folder / "shown.safetensors", "sd1")
    assert [e.name for e in library.entries()] == ["shown"]


def test_an_automatic1111_install_is_read_in_place(library, tmp_path):
    webui = samples.a1111_install(tmp_path / "webui")
    before = sorted(str(p) for p in webui.rglob("*"))
    library.add_folder(webui)
    got = {e.name: (e.kind, e.family, e.location) for e in library.entries()}
    where = str(webui.resolve())
    assert got == {
        "bigger": ("checkpoints", "sdxl", where),
        "dreamy": ("checkpoints", "sd1", where),
        "old": ("checkpoints", "", where),
        "ink": ("loras", "sd1", where),
        "paper": ("loras", "sdxl", where),
        "badhands": ("embeddings", "sd1", where),
        "clear": ("vae", "", where),
    }
    assert sorted(str(p) for p in webui.rglob("*")) == before  # nothing written there


def test_an_automatic1111_models_folder_finds_the_embeddings_beside_it(library, tmp_path):
    webui = samples.a1111_install(tmp_path / "webui")
    library.add_folder(webui / "models")
    assert {e.name for e in library.entries("embeddings")} == {"badhands"}
    assert {e.name for e in library.entries("checkpoints")} == {"bigger", "dreamy", "old"}


def test_a_comfyui_install_is_read_in_place(library, tmp_path, tiny):
    comfy = samples.comfyui_install(tmp_path / "ComfyUI", tiny)
    library.add_folder(comfy)
    got = {e.name: (e.kind, e.family, e.problem) for e in library.entries()}
    assert got == {
        "sharp": ("checkpoints", "sd2", ""),
        "tiny": ("checkpoints", "", ""),  # a link to a folder outside: followed
        "glow": ("loras", "sd2", ""),
        "xlstyle": ("embeddings", "sdxl", ""),
        "tinyvae": ("vae", "", ""),
    }
    assert library.find("tiny").path == comfy / "models" / "diffusers" / "tiny"
    library.remove_folder(comfy)
    library.add_folder(comfy / "models")
    assert {e.name for e in library.entries()} == set(got)


def test_a_plain_folder_is_sorted_by_content(library, tmp_path, tiny):
    plain = tmp_path / "downloads"
    samples.checkpoint(plain / "model.safetensors", "sdxl")
    samples.lora(plain / "lora.safetensors", "sdxl")
    samples.embedding(plain / "sub" / "emb.safetensors")
    samples.vae(plain / "vae.safetensors")
    samples.pickled(plain / "old.ckpt")
    (plain / "notes.bin").write_bytes(b"\x80\x04 not a model")
    shutil.copytree(tiny, plain / "tiny")
    library.add_folder(plain)
    got = {e.name: e.kind for e in library.entries()}
    assert got == {
        "model": "checkpoints",
        "old": "checkpoints",
        "tiny": "checkpoints",
        "lora": "loras",
        "emb": "embeddings",
        "vae": "vae",
    }


def test_names_that_clash_get_their_folder_in_front(library, data, tmp_path):
    samples.checkpoint(own(data, "checkpoints", "model.safetensors"))
    samples.checkpoint(tmp_path / "webui" / "models" / "Stable-diffusion" / "model.safetensors", "sdxl")
    samples.checkpoint(tmp_path / "webui" / "models" / "Stable-diffusion" / "XL" / "model.safetensors", "sdxl")
    library.add_folder(tmp_path / "webui")
    names = [e.name for e in library.entries()]
    assert names == ["model", "Stable-diffusion/model", "XL/model"]
    assert library.find("XL/model").path.parent.name == "XL"
    assert library.find("model").location == "library"


def test_symlinks_are_followed_and_a_broken_one_is_a_problem(library, data, tmp_path):
    outside = samples.checkpoint(tmp_path / "elsewhere" / "real.safetensors", "sd1")
    folder = model_kind_dir(data, "checkpoints")
    folder.mkdir(parents=True)
    (folder / "linked.safetensors").symlink_to(outside)
    (folder / "gone.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    got = by_name(library.entries())
    assert (got["linked"].family, got["linked"].location, got["linked"].problem) == ("sd1", "link", "")
    assert got["gone"].problem.startswith("a broken link:") and "nowhere.safetensors" in got["gone"].problem


def test_hostile_names_are_listed(library, data):
    names = ["with space", "ünïcode ☃", "new\nline", "tab\there"]
    for name in names:
        samples.checkpoint(own(data, "checkpoints", name + ".safetensors"))
    assert sorted(e.name for e in library.entries()) == sorted(names)
    assert library.find("new\nline").path.name == "new\nline.safetensors"


def test_listing_never_hashes_and_shows_a_cached_hash(library, data):
    path = samples.checkpoint(own(data, "checkpoints", "m.safetensors"))
    samples.lora(own(data, "loras", "l.safetensors"))
    assert by_name(library.entries())["m"].short_hash == ""
    assert not cache_path(data).exists()
    sha = library.hash_now(library.find("m"))
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    lora_sha = library.hash_now(own(data, "loras", "l.safetensors"))
    entries = by_name(Library(data).entries())  # a new library reads the cache
    assert (entries["m"].short_hash, entries["m"].sha256) == (sha[:10], sha)
    assert entries["l"].short_hash == lora_sha[:12]


def test_find_by_name_hash_or_path(library, data):
    path = samples.checkpoint(own(data, "checkpoints", "Model.safetensors"))
    sha = library.hash_now(path)
    assert library.find("Model").path == path
    assert library.find("model").path == path  # one match ignoring case
    assert library.find(sha[:10]).path == path
    assert library.find(sha.upper()).path == path
    assert library.find(str(path)).name == "Model"
    assert library.find("other") is None
    assert library.find("Model", "loras") is None
    with pytest.raises(ModelError, match="unknown kind"):
        library.find("Model", "upscalers")


def test_add_copies_a_file_atomically(library, data, tmp_path):
    source = samples.checkpoint(tmp_path / "in" / "dreamy.safetensors", "sdxl")
    progress = []
    entry = library.add(source, progress=lambda done, total: progress.append((done, total)))
    assert (entry.name, entry.kind, entry.family, entry.location) == ("dreamy", "checkpoints", "sdxl", "library")
    assert entry.path == own(data, "checkpoints", "dreamy.safetensors")
    assert entry.path.read_bytes() == source.read_bytes() and not entry.path.is_symlink()
    assert progress[-1] == (source.stat().st_size,) * 2
    assert sorted(p.name for p in entry.path.parent.iterdir()) == ["dreamy.safetensors"]  # no partial left
    assert source.exists()


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda p, t: samples.lora(p / "x.safetensors", "sdxl"), "loras"),
        (lambda p, t: samples.embedding(p / "x.safetensors"), "embeddings"),
        (lambda p, t: samples.vae(p / "x.safetensors"), "vae"),
        (lambda p, t: samples.vae_folder(p / "x", t), "vae"),
        (lambda p, t: shutil.copytree(t, p / "x"), "checkpoints"),
    ],
)
def test_add_puts_each_kind_in_its_folder(library, data, tmp_path, tiny, make, kind):
    source = Path(make(tmp_path, tiny))
    entry = library.add(source)
    assert (entry.name, entry.kind, entry.problem) == ("x", kind, "")
    assert entry.path == own(data, kind, source.name)
    if source.is_dir():
        assert sorted(p.relative_to(entry.path) for p in entry.path.rglob("*")) == sorted(
            p.relative_to(source) for p in source.rglob("*")
        )
        assert not any(p.name.endswith(".partial") for p in entry.path.parent.iterdir())


def test_add_link_makes_a_symlink(library, data, tmp_path, tiny):
    source = samples.checkpoint(tmp_path / "in" / "linked.safetensors")
    entry = library.add(source, link=True)
    assert entry.path.is_symlink() and entry.path.resolve() == source.resolve()
    assert (entry.location, entry.family) == ("link", "sd1")
    folder = library.add(tiny, link=True)
    assert folder.location == "link" and folder.path.is_symlink()


def test_add_refuses_a_clash(library, data, tmp_path):
    samples.checkpoint(own(data, "checkpoints", "dreamy.safetensors"))
    with pytest.raises(ModelError, match="already has a checkpoint named 'dreamy'"):
        library.add(samples.checkpoint(tmp_path / "in" / "dreamy.safetensors"))
    with pytest.raises(ModelError, match="already has"):
        library.add(samples.checkpoint(tmp_path / "in2" / "Dreamy.safetensors"), link=True)
    webui = samples.a1111_install(tmp_path / "webui")
    library.add_folder(webui)
    with pytest.raises(ModelError, match=r"named 'bigger'.*Stable-diffusion"):
        library.add(samples.checkpoint(tmp_path / "in3" / "bigger.safetensors"))
    assert sorted(p.name for p in model_kind_dir(data, "checkpoints").iterdir()) == ["dreamy.safetensors"]


def test_add_refuses_what_is_not_a_model(library, tmp_path, tiny):
    with pytest.raises(ModelError, match="Python pickle"):
        library.add(samples.pickled(tmp_path / "old.ckpt"))
    with pytest.raises(ModelError, match="not a model file"):
        library.add(_text(tmp_path / "notes.txt"))
    with pytest.raises(ModelError, match="does not exist"):
        library.add(tmp_path / "missing.safetensors")
    with pytest.raises(ModelError, match="ControlNet"):
        library.add(samples.write(tmp_path / "cn.safetensors", {"control_model.x": ("F16", (2,))}))
    with pytest.raises(ModelError, match="not a model folder"):
        library.add(tiny / "unet")
    with pytest.raises(ModelError, match="holds a LoRA, not a checkpoint"):
        library.add(samples.lora(tmp_path / "l.safetensors"), kind="checkpoints")
    with pytest.raises(ModelError, match="unknown kind"):
        library.add(samples.lora(tmp_path / "l2.safetensors"), kind="lora")


def _text(path: Path) -> Path:
    path.write_text("hello")
    return path


def test_adding_a_model_of_the_library_is_refused(library, data):
    path = samples.checkpoint(own(data, "checkpoints", "m.safetensors"))
    with pytest.raises(ModelError, match="in the library already"):
        library.add(path)


def test_a_cancelled_copy_leaves_nothing(library, data, tmp_path):
    big = samples.checkpoint(tmp_path / "in" / "big.safetensors", "sd1", big=("F32", (1024, 2400)))
    assert big.stat().st_size > 8 * 1024 * 1024  # more than one block
    cancel = threading.Event()
    with pytest.raises(CopyCancelled):
        library.add(big, progress=lambda done, total: cancel.set(), cancel=cancel)
    assert list(model_kind_dir(data, "checkpoints").iterdir()) == []
    assert library.entries() == []


def test_a_cancelled_folder_copy_leaves_nothing(library, data, tiny):
    cancel = threading.Event()
    with pytest.raises(CopyCancelled):
        library.add(tiny, progress=lambda done, total: cancel.set(), cancel=cancel)
    assert list(model_kind_dir(data, "checkpoints").iterdir()) == []


def test_a_full_disk_add_leaves_no_partial(small_disk, tmp_path):
    disk = small_disk(1024 * 1024)
    library = Library(disk / "data")
    too_big = samples.checkpoint(tmp_path / "in" / "big.safetensors", "sd1", big=("F32", (1024, 512)))
    with pytest.raises(StudioError, match="the disk is full") as caught:
        library.add(too_big)
    assert "\n" not in str(caught.value)
    # Fits by bytes, not by the file system's blocks: the copy runs out of room half-way.
    many = samples.model_index(tmp_path / "in" / "many", 400)
    with pytest.raises(StudioError, match="the disk is full"):
        library.add(many)
    assert list(model_kind_dir(disk / "data", "checkpoints").iterdir()) == []
    assert library.entries() == []


def test_a_read_only_library_refuses_in_one_line(read_only, data, tmp_path):
    folder = model_kind_dir(data, "checkpoints")
    folder.mkdir(parents=True)
    read_only(folder)
    library = Library(data)
    with pytest.raises(StudioError, match="read-only"):
        library.add(samples.checkpoint(tmp_path / "in" / "m.safetensors"))
    with pytest.raises(StudioError, match="read-only"):
        library.add(samples.checkpoint(tmp_path / "in" / "n.safetensors"), link=True)


def test_remove_moves_a_copy_to_the_trash_and_deletes_a_link(library, data, tmp_path):
    copy = library.add(samples.checkpoint(tmp_path / "in" / "kept.safetensors"))
    source = samples.checkpoint(tmp_path / "in" / "linked.safetensors")
    library.add(source, link=True)
    moved = library.remove("kept")
    assert not copy.path.exists() and moved.read_bytes() == (tmp_path / "in" / "kept.safetensors").read_bytes()
    assert trash_dir(data) / "models" in moved.parents
    assert library.remove("linked") == own(data, "checkpoints", "linked.safetensors")
    assert source.exists() and library.entries() == []
    with pytest.raises(ModelError, match="no checkpoint named 'kept'"):
        library.remove("kept")


def test_remove_refuses_a_model_of_an_extra_folder(library, tmp_path):
    webui = samples.a1111_install(tmp_path / "webui")
    library.add_folder(webui)
    with pytest.raises(ModelError, match=f"read from {webui.resolve()}.*never changes"):
        library.remove("dreamy")
    with pytest.raises(ModelError, match="never changes"):
        library.remove("ink", "loras")
    assert (webui / "models" / "Stable-diffusion" / "dreamy.safetensors").exists()


def test_defaults_are_checked_saved_and_taken_back(library, data):
    path = samples.checkpoint(own(data, "checkpoints", "m.safetensors"))
    entry = library.set_defaults("m", steps=8, guidance_scale=4.5, scheduler="Euler a")
    assert entry.defaults == {"steps": 8, "guidance_scale": 4.5, "scheduler": "Euler a", "width": 512, "height": 512}
    saved = json.loads((data / "models" / "library.json").read_text())
    assert saved["models"][str(path.resolve())]["defaults"] == {
        "steps": 8,
        "guidance_scale": 4.5,
        "scheduler": "Euler a",
    }
    assert library.find("m").defaults["steps"] == 8
    with pytest.raises(ModelError, match="steps must be 1 to 150"):
        library.set_defaults("m", steps=1000)
    with pytest.raises(ModelError, match="multiple of 8"):
        library.set_defaults("m", width=100)
    with pytest.raises(ModelError, match="unknown defaults seed"):
        library.set_defaults("m", seed=3)
    with pytest.raises(ModelError, match="no checkpoint named"):
        library.set_defaults("nothing", steps=3)
    assert library.find("m").defaults["steps"] == 8  # a refused change saves nothing
    assert library.set_defaults("m", steps=None).defaults["steps"] == 20  # back to the model's own


def test_a_model_with_a_problem_takes_no_defaults(library, data):
    samples.pickled(own(data, "checkpoints", "old.ckpt"))
    with pytest.raises(ModelError, match="cannot be used: a Python pickle"):
        library.set_defaults("old", steps=4)


def test_prediction_is_saved_per_model_and_used(library, data):
    samples.checkpoint(own(data, "checkpoints", "two.safetensors"), "sd2")
    assert library.find("two").description == "SD 2.x"
    library.set_prediction("two", "v")
    entry = library.find("two")
    assert (entry.prediction, entry.description, entry.defaults["width"]) == ("v", "SD 2.x, v-prediction", 768)
    library.set_prediction("two", "auto")
    assert library.find("two").prediction is None
    with pytest.raises(ModelError, match="prediction must be"):
        library.set_prediction("two", "x0")


def test_the_finder_gives_names_hashes_and_saved_settings(library, data, tmp_path):
    path = samples.checkpoint(own(data, "checkpoints", "dreamy.safetensors"), "sd2")
    library.set_defaults("dreamy", steps=9)
    library.set_prediction("dreamy", "v")
    sha = library.hash_now(path)
    settings = library.finder("dreamy")
    assert settings is not None
    assert (settings.path, settings.name, settings.prediction, settings.defaults, settings.short_hash) == (
        path,
        "dreamy",
        "v",
        {"steps": 9},
        sha[:10],
    )
    assert library.finder(sha[:10]).path == path
    elsewhere = samples.checkpoint(tmp_path / "loose.safetensors")
    assert library.finder(str(elsewhere)).defaults == {}  # any path: settings may be empty
    assert library.finder("runwayml/stable-diffusion-v1-5") is None
    use_model_finder(library.finder)
    try:
        info = resolve_model("dreamy")
        assert (info.path, info.defaults.steps, info.defaults.width, info.short_hash) == (path, 9, 768, sha[:10])
        assert info.checkpoint is not None and info.checkpoint.prediction == "v_prediction"
        assert resolve_model(sha[:10]).path == path
        # Listing through the installed finder still shows the model's own defaults under the saved ones.
        assert library.set_defaults("dreamy", steps=None).defaults["steps"] == 20
    finally:
        use_model_finder(None)


def test_extra_folders_are_saved_and_refused_when_wrong(library, data, tmp_path):
    webui = samples.a1111_install(tmp_path / "webui")
    library.add_folder(webui)
    assert library.folders() == [webui.resolve()]
    assert Library(data).folders() == [webui.resolve()]
    with pytest.raises(ModelError, match="already"):
        library.add_folder(webui)
    with pytest.raises(ModelError, match="does not exist"):
        library.add_folder(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="not a folder"):
        library.add_folder(samples.checkpoint(tmp_path / "m.safetensors"))
    with pytest.raises(ModelError, match="library's own folder"):
        library.add_folder(data)
    with pytest.raises(ModelError, match="not one of the library's folders"):
        library.remove_folder(tmp_path)
    shutil.rmtree(webui)
    assert library.entries() == []  # a folder that went away lists nothing
    library.remove_folder(webui)
    assert library.folders() == []


def test_a_damaged_library_file_reads_as_empty_and_is_kept_aside(library, data, tmp_path):
    settings = data / "models" / "library.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("{damaged")
    assert library.folders() == []
    (tmp_path / "more").mkdir()
    library.add_folder(tmp_path / "more")
    assert json.loads(settings.read_text())["folders"] == [str((tmp_path / "more").resolve())]
    assert (data / "models" / "library.json.damaged").read_text() == "{damaged"
