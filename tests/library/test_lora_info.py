"""A LoRA's trigger words, read from its safetensors metadata (kohya's tag counts, or modelspec's phrase)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from studio.library.lora_info import trigger_words

DOWN = "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"


def lora_file(path: Path, metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({DOWN: np.zeros((4, 8), dtype=np.float16)}, str(path), metadata=metadata)
    return path


def test_kohya_tag_counts_give_the_most_frequent_tags_first(tmp_path):
    counts = {"10_wtrcolor": {" wtrcolor style": 40, "castle": 3, "1girl": 12}, "5_extra": {"castle": 20, " ": 9}}
    path = lora_file(tmp_path / "watercolor.safetensors", {"ss_tag_frequency": json.dumps(counts)})
    assert trigger_words(path) == ("wtrcolor style", "castle", "1girl")
    assert trigger_words(path, limit=1) == ("wtrcolor style",)


def test_modelspec_trigger_phrase_comes_first(tmp_path):
    metadata = {"modelspec.trigger_phrase": "inkwash, sumi-e ,", "ss_tag_frequency": json.dumps({"a": {"other": 5}})}
    assert trigger_words(lora_file(tmp_path / "ink.safetensors", metadata)) == ("inkwash", "sumi-e")


def test_nothing_to_say_is_empty_never_an_error(tmp_path):
    assert trigger_words(lora_file(tmp_path / "plain.safetensors")) == ()
    bad = lora_file(tmp_path / "bad.safetensors", {"ss_tag_frequency": "{not json", "modelspec.trigger_phrase": " "})
    assert trigger_words(bad) == ()
    odd = lora_file(tmp_path / "odd.safetensors", {"ss_tag_frequency": json.dumps({"a": ["x"], "b": {"y": "many"}})})
    assert trigger_words(odd) == ()
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00" * 5)
    assert trigger_words(damaged) == ()
    assert trigger_words(tmp_path / "gone.safetensors") == ()
    pickled = tmp_path / "old.pt"
    pickled.write_bytes(b"\x80\x04K\x01.")
    assert trigger_words(pickled) == ()


def test_a_changed_file_is_read_again(tmp_path):
    path = lora_file(tmp_path / "style.safetensors", {"modelspec.trigger_phrase": "first"})
    assert trigger_words(path) == ("first",)
    lora_file(path, {"modelspec.trigger_phrase": "second one"})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert trigger_words(path) == ("second one",)
