"""Model hashes: sha256 as sha256sum prints it, cached by path + size + mtime, computed in the background."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading

import pytest

from studio.library.hashes import (
    BLOCK,
    BackgroundHasher,
    HashCache,
    HashCancelled,
    cache_path,
    sha256_of,
    short_hash,
    weight_files,
)


def _file(path, size, seed=1):
    pattern = bytes((i * seed + 17) % 256 for i in range(251))  # 251: no block boundary lines up with it
    path.write_bytes((pattern * (size // 251 + 1))[:size])
    return path


def test_the_hash_is_sha256sum(tmp_path):
    path = _file(tmp_path / "model.safetensors", BLOCK + 12345)  # more than one block
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_of(path) == expected
    if shutil.which("sha256sum"):
        out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
        assert out.split()[0] == expected


def test_progress_reaches_the_size(tmp_path):
    path = _file(tmp_path / "m.safetensors", BLOCK * 2 + 7)
    seen = []
    sha256_of(path, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert len(seen) == 3


def test_short_hashes_as_automatic1111_prints_them():
    sha = hashlib.sha256(b"x").hexdigest()
    assert short_hash(sha, "checkpoints") == sha[:10]
    assert short_hash(sha, "loras") == sha[:12]
    assert short_hash("", "loras") == ""


def test_a_folder_hash_is_its_weight_files_in_path_order(tmp_path):
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "vae").mkdir()
    (model / ".cache").mkdir()
    _file(model / "vae" / "diffusion_pytorch_model.safetensors", 100, 3)
    _file(model / "unet" / "diffusion_pytorch_model.safetensors", 200, 5)
    (model / "unet" / "config.json").write_text("{}")
    _file(model / ".cache" / "x.safetensors", 10)
    files = weight_files(model)
    assert [f.relative_to(model).as_posix() for f in files] == [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    expected = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    assert sha256_of(model) == expected


def test_the_cache_answers_until_the_file_changes(tmp_path):
    data = tmp_path / "data"
    path = _file(tmp_path / "m.safetensors", 1000)
    cache = HashCache(data)
    assert cache.cached(path) is None
    sha = cache.compute(path)
    assert cache.cached(path) == sha
    stored = json.loads(cache_path(data).read_text())["entries"]
    assert stored[str(path.resolve())]["sha256"] == sha
    # A fresh cache (another process) reads it; a wrong hash planted in it proves it is not recomputed.
    planted = json.loads(cache_path(data).read_text())
    planted["entries"][str(path.resolve())]["sha256"] = "0" * 64
    cache_path(data).write_text(json.dumps(planted))
    assert HashCache(data).compute(path) == "0" * 64
    # A new modification time makes it hash again.
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    fresh = HashCache(data)
    assert fresh.cached(path) is None
    assert fresh.compute(path) == sha


def test_same_size_new_content_is_rehashed(tmp_path):
    data = tmp_path / "data"
    path = _file(tmp_path / "m.safetensors", 1000)
    cache = HashCache(data)
    first = cache.compute(path)
    before = path.stat().st_mtime_ns
    _file(path, 1000, seed=7)
    os.utime(path, ns=(before + 5_000_000, before + 5_000_000))
    assert cache.compute(path) != first
    assert cache.compute(path) == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("damage", ["{not json", '{"version": 1, "entries": [1, 2]}', "[]", ""])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path, damage):
    data = tmp_path / "data"
    path = _file(tmp_path / "m.safetensors", 1000)
    cache_path(data).parent.mkdir(parents=True)
    cache_path(data).write_text(damage)
    cache = HashCache(data)
    assert cache.cached(path) is None
    sha = cache.compute(path)
    assert json.loads(cache_path(data).read_text())["entries"][str(path.resolve())]["sha256"] == sha


def test_a_cancelled_hash_is_not_cached(tmp_path):
    data = tmp_path / "data"
    path = _file(tmp_path / "m.safetensors", BLOCK * 2)
    cancel = threading.Event()
    cache = HashCache(data)
    with pytest.raises(HashCancelled):
        cache.compute(path, progress=lambda done, total: cancel.set(), cancel=cancel)
    assert cache.cached(path) is None
    assert not cache_path(data).exists()


def test_the_background_hasher_reports_each_path_once(tmp_path):
    paths = [_file(tmp_path / f"m{i}.safetensors", 5000 + i, seed=i + 1) for i in range(3)]
    done = []
    hasher = BackgroundHasher(HashCache(tmp_path / "data"), lambda path, sha: done.append((path, sha)))
    try:
        for path in paths:
            assert hasher.submit(path)
        hasher.submit(paths[0])  # queued or done already: never two at once
        assert hasher.wait(30)
    finally:
        hasher.close()
    expected = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert {p: s for p, s in done} == expected
    assert len([p for p, _ in done if p == paths[0]]) in (1, 2)  # a second hash only after the first ended
    assert hasher.pending() == 0


def test_the_background_hasher_refuses_a_path_it_is_hashing(tmp_path):
    path = _file(tmp_path / "m.safetensors", 100)
    gate = threading.Event()
    started = threading.Event()
    done = []

    class SlowCache(HashCache):
        def compute(self, path, progress=None, cancel=None):
            started.set()
            gate.wait(30)
            return super().compute(path, progress, cancel)

    hasher = BackgroundHasher(SlowCache(tmp_path / "data"), lambda p, s: done.append(p))
    try:
        assert hasher.submit(path)
        assert started.wait(30)
        assert not hasher.submit(path)
        gate.set()
        assert hasher.wait(30)
        assert hasher.submit(path)  # done: it may be asked for again
        assert hasher.wait(30)
    finally:
        hasher.close()
    assert done == [path, path]


def test_the_background_hasher_can_be_cancelled(tmp_path):
    paths = [_file(tmp_path / f"m{i}.safetensors", BLOCK * 2) for i in range(3)]
    gate = threading.Event()
    started = threading.Event()
    done, failed = [], []

    class GatedCache(HashCache):
        def compute(self, path, progress=None, cancel=None):
            started.set()
            gate.wait(30)
            return super().compute(path, progress, cancel)

    cache = GatedCache(tmp_path / "data")
    hasher = BackgroundHasher(cache, lambda p, s: done.append(p), lambda p, m: failed.append(p))
    try:
        for path in paths:
            hasher.submit(path)
        assert started.wait(30)
        hasher.cancel()
        gate.set()
        assert hasher.wait(30)
    finally:
        hasher.close()
    assert done == [] and failed == []
    assert all(cache.cached(p) is None for p in paths)


def test_a_missing_file_is_reported_as_failed(tmp_path):
    failed = []
    hasher = BackgroundHasher(HashCache(tmp_path / "data"), lambda p, s: None, lambda p, m: failed.append(m))
    try:
        hasher.submit(tmp_path / "gone.safetensors")
        assert hasher.wait(30)
    finally:
        hasher.close()
    assert len(failed) == 1 and "gone.safetensors" in failed[0]
