"""Re-exporting the embedded model keeps the hints a person wrote into its studio.json."""

from __future__ import annotations

import json

from studio.embedded.export import _hints


def test_examples_note_and_vocabulary_survive_a_re_export(tmp_path):
    file = tmp_path / "studio.json"
    file.write_text(json.dumps({"name": "old", "examples": ["a lake"], "note": "landscapes", "vocabulary": ["lake"]}))
    assert _hints(file) == {"examples": ["a lake"], "note": "landscapes", "vocabulary": ["lake"]}


def test_a_missing_or_broken_file_gives_no_hints(tmp_path):
    assert _hints(tmp_path / "none.json") == {}
    (tmp_path / "bad.json").write_text("{ not json")
    assert _hints(tmp_path / "bad.json") == {}
    (tmp_path / "list.json").write_text("[1]")
    assert _hints(tmp_path / "list.json") == {}
