# pyright: standard
"""Downloading a model into the library: a Hugging Face repo, one file of one, or a URL to one file.

Sources: `org/name` (a diffusers repo: its model_index.json and, of the components it names, the
configs, tokenizer files and safetensors weights; no pickles, no Flax/ONNX/TF weights, and fp16
weights only where a component has no full ones), `org/name/path/file.safetensors` (one file),
a Hub page or resolve URL (`https://huggingface.co/org/name/blob/REV/path`), and any other
http(s) URL to a .safetensors file. Pickled checkpoints (.ckpt, .pt, .bin) may come as single
files; `conversion_note` says they need converting before Studio loads them.

The Hub is asked through huggingface_hub (HfApi.model_info, get_hf_file_metadata, hf_hub_url,
its session and its errors), at $HF_ENDPOINT, read at each call. The bytes themselves come in
small pieces over that session, straight into a hidden folder beside their place in the library
(`.NAME.download`): huggingface_hub 2.4's own transfer reads 10 MB at a time and throws away a
partial file when it fails, so it could neither be cancelled promptly nor resumed. What arrived
stays there after a cancel, a broken connection or a crash, and the same download resumes it with
a Range request. The model is renamed into the library only when every file is whole and every
safetensors header reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from studio.engine.checkpoints import PICKLE_SUFFIXES, read_header
from studio.errors import ModelError, StudioError
from studio.paths import model_kind_dir

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
FILE_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
_REPO_KEPT_SUFFIXES = (".json", ".txt", ".model", ".safetensors")  # configs, tokenizers, weights
_OTHER_WEIGHTS = (*PICKLE_SUFFIXES, ".msgpack", ".h5", ".onnx")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")
_INDEX = re.compile(r"^(?P<stem>.+)\.(?P<kind>safetensors|bin)\.index(?:\.(?P<variant>[\w-]+))?\.json$")
_NAME_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_REPO_SOURCE = re.compile(rf"^(?P<repo>{_NAME_PART}/{_NAME_PART})(?:/(?P<path>.+))?$")
PARTIAL = ".download"  # not ".partial": the library's tidy-up removes day-old copies by that name
_STATE = ".download.json"
_PART = ".part"
_EVERY = 0.1  # seconds between progress reports
_SPEED_WINDOW = 5.0  # seconds of transfer the speed is measured over
_TRIES = 4  # failed attempts in a row (no new bytes) before a transfer gives up
_OFFLINE = "downloads are switched off ({} is set)"


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands: bytes in hand (those kept from before included) of the total."""

    done_bytes: int
    total_bytes: int | None
    bytes_per_s: float
    eta_s: float | None
    file: str  # the file on its way, relative to the model


class DownloadCancelled(StudioError):
    """The download was cancelled; what arrived is kept hidden, and the same download resumes it."""

    def __init__(self, message: str, partial: Path):
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Source:
    """What a source string names: a whole repo ("repo"), one file of a repo ("hub_file"), or a URL."""

    kind: str
    repo: str = ""
    revision: str = "main"
    path: str = ""
    url: str = ""


def download(
    source: str,
    data: Path,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    name: str | None = None,
) -> Path:
    """Download `source` into DATA/models/checkpoints (as `name`, else its own name); the model's path.

    Blocks; call it from a worker thread in the window. `progress` is called (from this thread)
    at most ten times a second; setting `cancel` stops the transfer within a piece of data and
    raises DownloadCancelled. Anything that goes wrong is a one-line ModelError."""
    _check_online()
    parsed = parse_source(source)
    target = library_name(parsed, name)
    folder = model_kind_dir(data, "checkpoints")
    destination = folder / target
    _refuse_existing(destination)
    partial = folder / f".{target}{PARTIAL}"
    cancel = cancel or threading.Event()
    endpoint = hub_endpoint()
    where = endpoint if parsed.kind != "url" else _origin(parsed.url)
    try:
        items = _plan(parsed, target, endpoint)
        meter = _Meter(progress, _total(items))
        state = _State.load(partial)
        for item in items:
            _fetch(item, partial, state, meter, cancel, where)
        meter.emit(force=True)
        _check(items, partial, state, parsed)
        _refuse_existing(destination)
        _publish(partial, items, destination, parsed.kind == "repo")
    except StudioError:
        raise
    except Exception as exc:
        explained = _explain(exc, parsed, where)
        if explained is not None:
            raise explained from None
        if isinstance(exc, FileExistsError):  # the name was taken while the download ran
            _refuse_existing(destination)
        if isinstance(exc, OSError):
            from studio.files import os_error_reason

            raise ModelError(f"cannot write the download into {folder}: {os_error_reason(exc)}") from None
        raise
    log.info("downloaded %s to %s", source, destination)
    return destination


def conversion_note(path: Path) -> str | None:
    """What to tell a person whose download is a pickled checkpoint Studio does not load as it is."""
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        return None
    return (
        f"{path.name} is a pickled checkpoint, which Studio does not load (pickles can run code); "
        f"turn it into safetensors with: studio models convert {path}"
    )


def hub_endpoint() -> str:
    """The Hub's address: $HF_ENDPOINT (read now, not when huggingface_hub was imported) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "").strip().rstrip("/") or DEFAULT_ENDPOINT


# --- sources and names ----------------------------------------------------------------------


def parse_source(source: str) -> Source:
    """Read a source string; a ModelError says which forms there are."""
    text = source.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ModelError(f"cannot download {source!r}: Studio downloads only http:// and https:// URLs")
        if _is_hub(text):
            segments = [unquote(s) for s in parts.path.split("/") if s]
            repo = "/".join(segments[:2])
            if len(segments) >= 5 and segments[2] in ("blob", "resolve"):
                return _checked(Source("hub_file", repo=repo, revision=segments[3], path="/".join(segments[4:])))
            if len(segments) == 2 or (len(segments) == 4 and segments[2] == "tree"):
                return _checked(Source("repo", repo=repo, revision=segments[3] if len(segments) == 4 else "main"))
        return Source("url", url=text)
    match = _REPO_SOURCE.match(text)
    if match is None or not _safe_relative(match["path"] or "x"):
        raise ModelError(
            f"cannot download {source!r}: give a Hugging Face repo id (org/name), a file in one "
            "(org/name/path/model.safetensors) or an http(s) URL to a .safetensors file"
        )
    if match["path"]:
        return Source("hub_file", repo=match["repo"], path=match["path"])
    return Source("repo", repo=match["repo"])


def library_name(source: Source, name: str | None) -> str:
    """The name the model gets in the library: `name`, else the repo's or the file's own."""
    if source.kind == "repo":
        own = source.repo.split("/")[1]
    else:
        own = PurePosixPath(source.path or unquote(urlsplit(source.url).path)).name
    chosen = (name or own).strip()
    if name and source.kind != "repo" and not chosen.lower().endswith(FILE_SUFFIXES):
        suffix = PurePosixPath(own).suffix.lower()
        chosen += suffix if suffix in FILE_SUFFIXES else ""
    if not chosen or chosen.startswith(".") or any(c in chosen for c in "/\\\0") or len(chosen) > 200:
        raise ModelError(f"{chosen!r} cannot be a name in the library (no slashes, no leading dot)")
    if source.kind != "repo" and not chosen.lower().endswith(FILE_SUFFIXES):
        raise ModelError(
            f"{source.url or source.path} does not end in a .safetensors file name; "
            "if it is one, name it with --name NAME.safetensors"
        )
    return chosen


def _checked(source: Source) -> Source:
    if not _REPO_SOURCE.match(source.repo) or (source.path and not _safe_relative(source.path)):
        raise ModelError(f"cannot download {source.repo}/{source.path}: not a model repo's file")
    return source


def _safe_relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        bool(parts) and not path.startswith("/") and "\\" not in path and all(p not in ("", ".", "..") for p in parts)
    )


def _is_hub(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in HUB_HOSTS or _origin(url) == _origin(hub_endpoint())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_online() -> None:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if (os.environ.get(variable) or "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            raise ModelError(_OFFLINE.format(variable))


def _refuse_existing(destination: Path) -> None:
    if destination.exists() or destination.is_symlink():
        raise ModelError(f"{destination} already exists; remove it first or choose another name (--name NAME)")


# --- which files ------------------------------------------------------------------------------


def select_repo_files(names: Iterable[str], index: dict) -> list[str]:
    """The files of a diffusers repo that Studio needs, given its file names and its model_index.json."""
    from studio.engine.models import _SKIPPED

    components = {
        key
        for key, value in index.items()
        if not key.startswith("_") and isinstance(value, list) and value and value[0] is not None
    } - set(_SKIPPED)
    chosen = []
    configs: dict[str, list[str]] = {c: [] for c in components}
    weights: dict[str, list[str]] = {c: [] for c in components}
    others: dict[str, list[str]] = {c: [] for c in components}
    for name in names:
        path = PurePosixPath(name)
        suffix = path.suffix.lower()
        if len(path.parts) == 1:
            if suffix == ".json":  # model_index.json, studio.json; never the single-file weights beside them
                chosen.append(name)
            continue
        component = path.parts[0]
        if component not in components:
            continue
        if suffix == ".safetensors":
            weights[component].append(name)
        elif suffix in _REPO_KEPT_SUFFIXES:
            configs[component].append(name)
        elif suffix in _OTHER_WEIGHTS:
            others[component].append(name)
    for component in sorted(components):
        variant = _chosen_variant(weights[component])
        if variant is False:
            if others[component]:
                raise ModelError(
                    f"the '{component}' of this model has no safetensors weights, only "
                    f"{', '.join(PurePosixPath(n).name for n in sorted(others[component]))} (pickles or other "
                    "formats Studio does not load)"
                )
            variant = None
        chosen += [w for w in weights[component] if _variant(w) == variant]
        for name in configs[component]:
            index_name = _INDEX.match(PurePosixPath(name).name)
            if index_name is None or (index_name["kind"] == "safetensors" and index_name["variant"] == variant):
                chosen.append(name)
    return sorted(chosen)


def _variant(name: str) -> str | None:
    """The variant of a weights file: 'fp16' for model.fp16.safetensors or model.fp16-00001-of-00002.safetensors."""
    stem = _SHARD.sub("", PurePosixPath(name).name.removesuffix(".safetensors"))
    return stem.rsplit(".", 1)[1] if "." in stem else None


def _chosen_variant(weights: list[str]) -> str | bool | None:
    """The full weights if there are any, else fp16 ones; False when there are neither."""
    variants = {_variant(w) for w in weights}
    if None in variants:
        return None
    if "fp16" in variants:
        return "fp16"
    return False


# --- the plan: what to fetch from where ---------------------------------------------------------------


@dataclass
class _Item:
    """One file to fetch."""

    path: str  # relative to the download's folder
    url: str
    size: int | None
    identity: str | None  # what the bytes are (sha256, blob id, ETag); a partial of other bytes starts over
    headers: dict[str, str]
    hub: bool  # the Hub answers, with its own error codes


def _plan(source: Source, target: str, endpoint: str) -> list[_Item]:
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    if source.kind == "url":
        return [_Item(target, source.url, None, None, {"User-Agent": _user_agent()}, hub=False)]
    headers = build_hf_headers(user_agent=_user_agent())
    if source.kind == "hub_file":
        url = hf_hub_url(source.repo, source.path, revision=source.revision, endpoint=endpoint)
        meta = get_hf_file_metadata(url, timeout=constants.HF_HUB_ETAG_TIMEOUT, headers=headers, endpoint=endpoint)
        if meta.commit_hash:  # the same bytes on every attempt, even if the branch moves meanwhile
            url = hf_hub_url(source.repo, source.path, revision=meta.commit_hash, endpoint=endpoint)
        return [_Item(target, url, meta.size, meta.etag, headers, hub=True)]
    return _repo_plan(source, endpoint, headers)


def _repo_plan(source: Source, endpoint: str, headers: dict[str, str]) -> list[_Item]:
    from huggingface_hub import HfApi, constants, hf_hub_url

    info = HfApi(endpoint=endpoint).model_info(
        source.repo, revision=source.revision, files_metadata=True, timeout=constants.HF_HUB_ETAG_TIMEOUT
    )
    siblings = {s.rfilename: s for s in info.siblings or []}
    revision = info.sha or source.revision
    if "model_index.json" not in siblings:
        weights = sorted(n for n in siblings if n.lower().endswith(FILE_SUFFIXES))[:3]
        hint = f"; download one of its files instead, such as {source.repo}/{weights[0]}" if weights else ""
        raise ModelError(f"{source.repo} on {endpoint} is not a diffusers model (it has no model_index.json){hint}")
    index = _get_json(hf_hub_url(source.repo, "model_index.json", revision=revision, endpoint=endpoint), headers)
    if not isinstance(index, dict):
        raise ModelError(f"the model_index.json of {source.repo} is not a JSON object")
    items = []
    for name in select_repo_files(siblings, index):
        if not _safe_relative(name):
            raise ModelError(f"{source.repo} on {endpoint} lists a file with an unsafe name: {name!r}")
        sibling = siblings[name]
        lfs = sibling.lfs
        size = lfs.size if lfs is not None else sibling.size
        identity = lfs.sha256 if lfs is not None else sibling.blob_id
        url = hf_hub_url(source.repo, name, revision=revision, endpoint=endpoint)
        items.append(_Item(name, url, size, identity, headers, hub=True))
    return items


def _get_json(url: str, headers: dict[str, str]) -> Any:
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session, hf_raise_for_status

    response = get_session().get(url, headers=headers, timeout=constants.HF_HUB_ETAG_TIMEOUT, follow_redirects=True)
    hf_raise_for_status(response)
    try:
        return json.loads(response.content)
    except ValueError:
        raise ModelError(f"{url} is not valid JSON") from None


def _user_agent() -> str:
    from studio import __version__

    return f"Studio/{__version__}"


def _total(items: list[_Item]) -> int | None:
    sizes = [i.size for i in items]
    return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


# --- the transfer ------------------------------------------------------------------------------------------


@dataclass
class _State:
    """The download folder's record of its files: what each one is, and whether it is whole."""

    folder: Path
    files: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> _State:
        try:
            files = json.loads((folder / _STATE).read_text(encoding="utf-8")).get("files", {})
        except (OSError, ValueError, AttributeError):
            files = {}  # no record (or a damaged one): every file starts over
        return cls(folder, files if isinstance(files, dict) else {})

    def get(self, path: str) -> dict | None:
        record = self.files.get(path)
        return record if isinstance(record, dict) else None

    def set(self, path: str, identity: str | None, done: bool) -> None:
        self.files[path] = {"identity": identity, "done": done}
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / (_STATE + ".tmp")
        temporary.write_text(json.dumps({"files": self.files}), encoding="utf-8")
        os.replace(temporary, self.folder / _STATE)


class _Meter:
    """Counts the bytes and tells `report` at most every _EVERY seconds (and when asked)."""

    def __init__(self, report: Callable[[DownloadProgress], None] | None, total: int | None):
        self.report = report
        self.total = total
        self.done = 0
        self.file = ""
        self._moved = 0  # bytes transferred by this run (the speed leaves out what was kept)
        self._samples: deque[tuple[float, int]] = deque()
        self._last = float("-inf")

    def start(self, file: str, present: int) -> None:
        self.file = file
        self.done += present
        self.emit(force=self._last == float("-inf"))  # the first report comes at once

    def add(self, count: int) -> None:
        self.done += count
        self._moved += count
        self.emit()

    def rewind(self, count: int) -> None:
        self.done -= count

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.report is None or (not force and now - self._last < _EVERY):
            return
        self._last = now
        self._samples.append((now, self._moved))
        while len(self._samples) > 2 and now - self._samples[1][0] >= _SPEED_WINDOW:
            self._samples.popleft()
        since, moved = self._samples[0]
        speed = (self._moved - moved) / (now - since) if now > since else 0.0
        left = None if self.total is None else max(self.total - self.done, 0)
        eta = left / speed if left is not None and speed > 0 else (0.0 if left == 0 else None)
        self.report(DownloadProgress(self.done, self.total, speed, eta, self.file))


def _fetch(item: _Item, folder: Path, state: _State, meter: _Meter, cancel: threading.Event, where: str) -> None:
    """Bring `item` into `folder`: resume its part file if it holds the same bytes, else start over."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    target = folder / item.path
    part = target.with_name(target.name + _PART)
    record = state.get(item.path)
    if record is not None and item.identity is not None and record.get("identity") != item.identity:
        record = None
    whole = record is not None and record.get("done") and target.is_file()
    if whole and (item.size is None or target.stat().st_size == item.size):
        meter.start(item.path, target.stat().st_size)
        return
    target.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if record is not None and part.is_file() else 0
    if item.size is not None and have > item.size:
        have = 0
    if record is None or not have:
        state.set(item.path, item.identity, done=False)
        record = state.get(item.path)
    meter.start(item.path, have)
    failures = 0  # attempts in a row that brought no new bytes
    answered = False
    while item.size is None or have < item.size or not part.exists():
        _raise_if_cancelled(cancel, folder)
        before = have
        headers = {**item.headers, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if not item.hub and record and record.get("identity"):
                headers["If-Range"] = record["identity"]
        problem = None
        try:
            with get_session().stream(
                "GET", item.url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT, follow_redirects=True
            ) as response:
                _raise_for_status(response, item)
                answered = True
                if have and response.status_code != 206:  # the server sends the whole file again
                    meter.rewind(have)
                    have = 0
                if not item.hub:
                    if not have:
                        state.set(item.path, _validator(response), done=False)
                        record = state.get(item.path)
                    length = response.headers.get("Content-Length")
                    item.size = have + int(length) if length is not None and length.isdigit() else None
                    meter.total = item.size
                with open(part, "r+b" if part.exists() else "wb") as out:
                    out.seek(have)
                    out.truncate()
                    for piece in response.iter_bytes():
                        out.write(piece)
                        have += len(piece)
                        meter.add(len(piece))
                        _raise_if_cancelled(cancel, folder)
            if item.size is None:  # no length given: the body's end is the file's end
                item.size = have
        except httpx2.TransportError as exc:
            if not answered and isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)):
                raise  # the host is not there at all: say so at once
            problem = _reason(exc)
        if problem is None and item.size is not None and have >= item.size:
            break
        failures = 0 if have > before else failures + 1
        if failures >= _TRIES:
            raise ModelError(
                f"the download of {item.path} from {where} broke off ({problem or 'no data'}); what arrived is kept: "
                "run the same download again to resume it"
            )
        if problem is not None:
            log.warning("the download of %s broke off at %d bytes (%s); resuming", item.path, have, problem)
        if failures and cancel.wait(0.5 * 2**failures):
            _raise_if_cancelled(cancel, folder)
    if item.size is not None and have != item.size:
        raise ModelError(f"{where} sent {have} bytes of {item.path} where {item.size} were expected")
    os.replace(part, target)
    state.set(item.path, record.get("identity") if record else item.identity, done=True)


def _raise_for_status(response: Any, item: _Item) -> None:
    from huggingface_hub.utils import hf_raise_for_status

    if response.status_code < 400:
        return
    response.read()
    if item.hub:
        hf_raise_for_status(response)
    status = response.status_code
    if status in (404, 410):
        raise ModelError(f"no such file at {item.url} (HTTP {status})")
    if status in (401, 403):
        raise ModelError(
            f"{item.url} refuses the download (HTTP {status}): it needs a login; some sites take a token in the URL"
        )
    raise ModelError(f"{_origin(str(response.url))} answered HTTP {status} for {item.url}; try again later")


def _validator(response: Any) -> str | None:
    """A strong ETag (or else Last-Modified) to send as If-Range when resuming a plain URL's file."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _raise_if_cancelled(cancel: threading.Event, folder: Path) -> None:
    if cancel.is_set():
        raise DownloadCancelled(
            f"download cancelled; what arrived is kept in {folder} and the same download resumes it", folder
        )


def _check(items: list[_Item], folder: Path, state: _State, source: Source) -> None:
    """Every safetensors file's header reads; a damaged one is removed, so the next try fetches it anew."""
    for item in items:
        if not item.path.lower().endswith(".safetensors"):
            continue
        file = folder / item.path
        try:
            read_header(file)
        except ModelError:
            file.unlink(missing_ok=True)
            state.set(item.path, None, done=False)
            what = source.url or f"{source.repo}/{item.path}"
            raise ModelError(f"the downloaded {what} is not a valid safetensors file; it was not kept") from None


def _publish(folder: Path, items: list[_Item], destination: Path, whole_folder: bool) -> None:
    """Move the finished model into the library (one rename), and clear the download's folder."""
    if whole_folder:
        wanted = {folder / i.path for i in items}
        for leftover in sorted(folder.rglob("*"), reverse=True):  # files of an earlier, other download
            if leftover.is_file() and leftover not in wanted:
                leftover.unlink()
            elif leftover.is_dir() and not any(leftover.iterdir()):
                leftover.rmdir()
        os.rename(folder, destination)
    else:
        file = folder / items[0].path
        try:
            os.link(file, destination)  # never over a name taken meanwhile
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            os.rename(file, destination)
        shutil.rmtree(folder, ignore_errors=True)


# --- errors ---------------------------------------------------------------------------------------------


def _explain(exc: Exception, source: Source, where: str) -> ModelError | None:
    """A network or Hub error as one line that names the endpoint and what was asked for; None for others."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    token = "set HF_TOKEN to a Hugging Face token that has access to it"
    if isinstance(exc, OfflineModeIsEnabled):
        return ModelError(_OFFLINE.format("HF_HUB_OFFLINE"))
    status = exc.response.status_code if isinstance(exc, HfHubHTTPError) and exc.response is not None else None
    if isinstance(exc, GatedRepoError) or (isinstance(exc, HfHubHTTPError) and status in (401, 403)):
        if status == 403:
            return ModelError(
                f"{where} refuses {source.repo} to this token (HF_TOKEN): it is gated or private; "
                f"accept its terms on its page, or {token}"
            )
        gated = isinstance(exc, GatedRepoError)
        return ModelError(
            f"{source.repo} on {where} needs a token: it is {'gated' if gated else 'private, gated or missing'}; {token}"
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelError(f"no such revision on {where}: {source.repo}@{source.revision}")
    if isinstance(exc, RemoteEntryNotFoundError):
        return ModelError(f"no such file on {where}: {source.repo}/{source.path}")
    if isinstance(exc, RepositoryNotFoundError):
        return ModelError(f"no such model on {where}: {source.repo}")
    if isinstance(exc, HfHubHTTPError):
        if status == 404:
            return ModelError(f"no such file on {where}: {source.repo}/{source.path}")
        return ModelError(f"{where} answered HTTP {status} for {source.repo or source.url}; try again later")
    if isinstance(exc, httpx2.TimeoutException):
        return ModelError(f"{where} did not answer in time ({_reason(exc)}); try again later")
    if isinstance(exc, httpx2.TransportError):
        return ModelError(f"cannot reach {where}: {_reason(exc)}")
    return None


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
