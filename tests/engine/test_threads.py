"""The engine picks torch's CPU thread count per model (studio.engine.threads)."""

import threading

import pytest
import torch

from studio.engine import threads
from studio.engine.loader import ModelCache


def _count_after_get(cache: ModelCache, ref: str = "embedded") -> int:
    """torch's thread count on a fresh thread (as the worker's) once it has got the model."""
    seen = []

    def work():
        cache.get(ref)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen[0]


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.delenv("STUDIO_THREADS", raising=False)
    monkeypatch.setattr(threads, "_initial", None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_small_unet_runs_on_one_thread(fresh):
    assert _count_after_get(ModelCache("cpu")) == 1


def test_studio_threads_sets_the_count(fresh, monkeypatch):
    monkeypatch.setenv("STUDIO_THREADS", "2")
    assert _count_after_get(ModelCache("cpu")) == 2


def test_a_full_size_unet_keeps_torchs_count(fresh, monkeypatch):
    cache = ModelCache("cpu")
    monkeypatch.setattr(threads, "_initial", 2)
    assert _count_after_get(cache) == 1
    monkeypatch.setattr(threads, "SMALL_UNET", 1000)  # the same model now counts as full size
    cache.get("embedded").unet_parameters = None
    assert _count_after_get(cache) == 2


def test_a_bad_value_is_ignored_with_a_warning(fresh, monkeypatch, caplog):
    monkeypatch.setenv("STUDIO_THREADS", "many")
    assert threads.threads_for(4_000_000) == 1
    assert "STUDIO_THREADS" in caplog.text
