"""`studio models convert`: a pickled checkpoint's tensors into a safetensors file, read with
torch's restricted loader only; a file that asks for anything else is refused unread."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from studio import __version__, cli
from studio.errors import ModelError, StudioError
from studio.library import convert
from studio.library.convert import convert_pickle, separate_shared


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "layer.weight": torch.randn(3, 4),
        "layer.bias": torch.randn(3),
        "half": torch.randn(2, 2).half(),
        "steps": torch.arange(5),
    }


def _assert_same(path: Path, expected: dict[str, torch.Tensor]) -> None:
    written = load_file(path)
    assert sorted(written) == sorted(expected)
    for name, tensor in expected.items():
        assert written[name].dtype == tensor.dtype, name
        assert torch.equal(written[name], tensor), name


def _entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_plain_state_dict_converts(tmp_path):
    state = _state()
    source = tmp_path / "model.pt"
    torch.save(state, source)
    result = convert_pickle(source)
    assert result.path == tmp_path / "model.safetensors"
    assert result.tensors == 4 and result.dropped == ()
    assert result.bytes_written == result.path.stat().st_size
    _assert_same(result.path, state)
    with safe_open(result.path, "pt") as handle:
        assert handle.metadata() == {
            "format": "pt",
            "converted_from": "model.pt",
            "converted_by": f"Studio {__version__}",
        }
    assert _entries(tmp_path) == ["model.pt", "model.safetensors"]  # no temporary file left


def test_an_a1111_checkpoint_gives_its_state_dict(tmp_path):
    state = _state()
    source = tmp_path / "v1.ckpt"
    torch.save({"state_dict": state, "global_step": 5, "epoch": 2}, source)
    result = convert_pickle(source)
    assert result.path == tmp_path / "v1.safetensors"
    assert sorted(result.dropped) == ["epoch", "global_step"]
    _assert_same(result.path, state)


def test_nested_dicts_are_flattened_and_what_is_not_a_tensor_dropped(tmp_path):
    source = tmp_path / "trained.pth"
    weight, bias = torch.randn(2, 2), torch.randn(2)
    torch.save(
        {
            "model": {
                "encoder": {"proj": {"weight": weight}, "name": "enc"},
                "head.bias": torch.nn.Parameter(bias),
                7: torch.ones(1),
            },
            "optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}, "lr": 0.1},
        },
        source,
    )
    result = convert_pickle(source)
    _assert_same(result.path, {"encoder.proj.weight": weight, "head.bias": bias, "7": torch.ones(1)})
    assert sorted(result.dropped) == ["model.encoder.name", "optimizer"]


def test_a_legacy_pickled_bin_converts(tmp_path):
    state = _state()
    source = tmp_path / "pytorch_model.bin"
    torch.save(state, source, _use_new_zipfile_serialization=False)
    assert source.read_bytes()[:2] == b"\x80\x02"  # a bare pickle, not the zip format
    result = convert_pickle(source)
    assert result.path == tmp_path / "pytorch_model.safetensors"
    _assert_same(result.path, state)


def _shared() -> dict[str, torch.Tensor]:
    base = torch.arange(16.0).reshape(4, 4)
    halves = torch.arange(8.0)
    return {
        "a": base,
        "tied": base,
        "row": base[1],
        "transposed": base.t(),
        "low": halves[:4],
        "high": halves[4:],
        "alone": torch.ones(3),
    }


def test_tensors_sharing_storage_are_written_apart(tmp_path):
    source = tmp_path / "tied.pt"
    torch.save(_shared(), source)
    loaded = torch.load(source, weights_only=True)
    with pytest.raises((RuntimeError, ValueError)):
        save_file(loaded, tmp_path / "as-it-is.safetensors")  # safetensors refuses them as they come
    result = convert_pickle(source)
    _assert_same(result.path, {name: t.contiguous() for name, t in _shared().items()})


def test_only_overlapping_tensors_are_copied(tmp_path):
    source = tmp_path / "tied.pt"
    torch.save(_shared(), source)
    loaded = torch.load(source, weights_only=True, mmap=True)
    apart = separate_shared(loaded)
    pointer = {name: t.data_ptr() for name, t in loaded.items()}
    for name in ("alone", "low", "high"):  # alone, or sharing a storage without overlapping: kept as they are
        assert apart[name].data_ptr() == pointer[name], name
    base_storage = loaded["a"].untyped_storage().data_ptr()
    on_base = [n for n in ("a", "tied", "row", "transposed") if apart[n].untyped_storage().data_ptr() == base_storage]
    assert len(on_base) == 1  # one keeps the storage, the other three are copies
    assert all(t.is_contiguous() for t in apart.values())
    for name, tensor in loaded.items():
        assert torch.equal(apart[name], tensor)


class _Payload:
    """Unpickling this calls `call(*args)`: what a malicious checkpoint does."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _malicious(kind: str, folder: Path, marker: Path) -> tuple[Path, str]:
    """A file that creates `marker` when unpickled, and the global its message must name ('' for none)."""
    opener = _Payload(open, str(marker), "w")
    if kind == "pickle protocol 2":
        path = folder / "evil.ckpt"
        path.write_bytes(pickle.dumps({"w": opener}, protocol=2))
        return path, "io.open"
    if kind == "pickle default protocol":
        path = folder / "evil.ckpt"
        path.write_bytes(pickle.dumps({"w": opener}))
        return path, ""
    path = folder / "evil.pt"
    if kind == "torch zip":
        torch.save({"w": torch.zeros(2), "x": _Payload(os.system, f"touch '{marker}'")}, path)
        return path, f"{os.system.__module__}.system"
    torch.save({"w": torch.zeros(2), "x": opener}, path, _use_new_zipfile_serialization=False)
    return path, "io.open"


def _prove_live(path: Path, marker: Path) -> None:
    """The payload does run when the file is unpickled the unsafe way (so the test can fail)."""
    if path.read_bytes()[:2] == b"PK" or path.suffix == ".pt":
        torch.load(path, weights_only=False)
    else:
        result = pickle.loads(path.read_bytes())
        result["w"].close()
    assert marker.exists()
    marker.unlink()


KINDS = ["pickle protocol 2", "pickle default protocol", "torch zip", "torch legacy"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_malicious_pickle_is_refused_unread(tmp_path, kind):
    folder = tmp_path / "in"
    folder.mkdir()
    marker = tmp_path / "marker"
    path, asked = _malicious(kind, folder, marker)
    _prove_live(path, marker)
    with pytest.raises(ModelError) as caught:
        convert_pickle(path)
    message = str(caught.value)
    assert "\n" not in message and path.name in message
    assert "not loaded" in message and "could run code" in message
    assert asked in message
    assert not marker.exists()
    assert _entries(folder) == [path.name]


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _zip_cut(path: Path) -> None:
    torch.save(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _legacy_cut(path: Path) -> None:
    torch.save(_state(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])


def _torchscript(path: Path) -> None:
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))


BAD = {
    "missing": (lambda p: None, "does not exist"),
    "in a missing folder": (lambda p: None, "does not exist"),
    "folder": (lambda p: p.mkdir(), "is a folder"),
    "fifo": (_fifo, "not a regular file"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "text": (lambda p: p.write_text("hello, this is no checkpoint\n"), "not a PyTorch checkpoint"),
    "zip cut short": (_zip_cut, "damaged"),
    "legacy cut short": (_legacy_cut, "damaged"),
    "other pickle": (lambda p: p.write_bytes(pickle.dumps({"a": 1}, protocol=2)), "damaged"),
    "torchscript": (_torchscript, "TorchScript"),
    "safetensors": (lambda p: save_file({"w": torch.zeros(2)}, p), "already a safetensors file"),
    "no tensors": (lambda p: torch.save({"global_step": 5}, p), "holds no tensors"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line(tmp_path, case):
    make, words = BAD[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / ("gone/model.ckpt" if case == "in a missing folder" else "model.ckpt")
    make(path)
    before = _entries(folder)
    with pytest.raises(ModelError) as caught:
        convert_pickle(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and words in message, message
    assert _entries(folder) == before


def test_an_existing_output_is_never_overwritten(tmp_path):
    source = tmp_path / "model.ckpt"
    torch.save(_state(), source)
    existing = tmp_path / "model.safetensors"
    existing.write_bytes(b"keep me")
    with pytest.raises(StudioError) as caught:
        convert_pickle(source)
    assert str(existing) in str(caught.value) and "exists" in str(caught.value)
    assert existing.read_bytes() == b"keep me"
    assert _entries(tmp_path) == ["model.ckpt", "model.safetensors"]


def test_out_names_another_file(tmp_path):
    source = tmp_path / "model.ckpt"
    torch.save(_state(), source)
    (tmp_path / "elsewhere").mkdir()
    result = convert_pickle(source, tmp_path / "elsewhere" / "renamed.safetensors")
    assert result.path == tmp_path / "elsewhere" / "renamed.safetensors"
    _assert_same(result.path, _state())
    assert _entries(tmp_path) == ["elsewhere", "model.ckpt"]


def test_a_read_only_folder_is_one_line_and_left_as_it_was(tmp_path, read_only):
    folder = tmp_path / "ro"
    folder.mkdir()
    source = folder / "model.ckpt"
    torch.save(_state(), source)
    if os.geteuid() == 0:
        read_only(folder)
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(StudioError) as caught:
            convert_pickle(source)
    finally:
        if os.geteuid() != 0:
            folder.chmod(0o755)
    message = str(caught.value)
    assert "\n" not in message and str(folder) in message
    assert "read-only" in message or "permission denied" in message, message
    assert _entries(folder) == ["model.ckpt"]


def _big_source(tmp_path: Path) -> Path:
    source = tmp_path / "big.ckpt"
    torch.save({"w": torch.ones(128 * 1024)}, source)  # 512 KiB of weights
    return source


def test_a_full_disk_is_refused_before_writing(tmp_path, small_disk):
    disk = small_disk(128 * 1024)
    with pytest.raises(StudioError) as caught:
        convert_pickle(_big_source(tmp_path), disk / "big.safetensors")
    message = str(caught.value)
    assert "\n" not in message and str(disk) in message and "the disk is full" in message, message
    assert "needed" in message  # said before a byte was written
    assert _entries(disk) == []


def test_a_disk_that_fills_while_writing_leaves_nothing(tmp_path, small_disk, monkeypatch):
    disk = small_disk(128 * 1024)
    monkeypatch.setattr(convert, "_free_bytes", lambda folder: 1 << 40)  # the check before passes; the write fails
    with pytest.raises(StudioError) as caught:
        convert_pickle(_big_source(tmp_path), disk / "big.safetensors")
    message = str(caught.value)
    assert "\n" not in message and str(disk) in message and "the disk is full" in message, message
    assert _entries(disk) == []


def _cli(*words: str) -> int:
    return cli.main(["models", "convert", *words])


def test_the_command_prints_the_new_file(tmp_path, capsys):
    source = tmp_path / "v1.ckpt"
    torch.save({"state_dict": _state(), "global_step": 5}, source)
    code = _cli(str(source), "--data-dir", str(tmp_path / "data"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == f"{tmp_path / 'v1.safetensors'}\n"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "4 tensors" in lines[0] and "global_step" in lines[0], err
    _assert_same(tmp_path / "v1.safetensors", _state())


def test_the_command_takes_out(tmp_path, capsys):
    source = tmp_path / "v1.ckpt"
    torch.save(_state(), source)
    target = tmp_path / "named.safetensors"
    code = _cli(str(source), "--out", str(target), "--data-dir", str(tmp_path / "data"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == f"{target}\n"
    _assert_same(target, _state())


@pytest.mark.parametrize("kind", ["torch zip", "pickle default protocol"])
def test_the_command_refuses_a_malicious_file(tmp_path, capsys, kind):
    marker = tmp_path / "marker"
    path, _ = _malicious(kind, tmp_path, marker)
    code = _cli(str(path), "--data-dir", str(tmp_path / "data"))
    out, err = capsys.readouterr()
    assert code == cli.EXIT_ERROR and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("studio: error:") and "could run code" in lines[0], err
    assert not marker.exists()
    assert _entries(tmp_path) == [path.name]


def test_the_command_refuses_to_overwrite(tmp_path, capsys):
    source = tmp_path / "v1.ckpt"
    torch.save(_state(), source)
    (tmp_path / "v1.safetensors").write_bytes(b"mine")
    code = _cli(str(source), "--data-dir", str(tmp_path / "data"))
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR and err.startswith("studio: error:") and "exists" in err
    assert (tmp_path / "v1.safetensors").read_bytes() == b"mine"


def test_the_current_folder_is_refused_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="is a folder"):
        convert_pickle(".")
