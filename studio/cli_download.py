"""`studio models download REPO_ID_OR_URL`: a model from the Hugging Face Hub (or a URL) into the library."""

from __future__ import annotations

import signal
import sys
import threading


def add_download_parser(actions, common) -> None:
    download = actions.add_parser(
        "download",
        parents=[common],
        help="download a model into the library",
        description="Download a model into DATA_DIR/models/checkpoints: a Hugging Face diffusers repo (org/name), "
        "one file of a repo (org/name/path/model.safetensors, or its huggingface.co URL), or an http(s) URL to a "
        ".safetensors file. $HF_ENDPOINT and $HF_TOKEN are honoured. Ctrl+C stops it; running the same command "
        "again resumes it.",
    )
    download.add_argument("source", metavar="REPO_ID_OR_URL")
    download.add_argument("--name", metavar="NAME", help="the model's name in the library (default: its own)")


def run_download(args) -> int:
    from studio.cli import EXIT_CANCELLED
    from studio.cli_gallery import printable
    from studio.library.download import DownloadCancelled, conversion_note, download
    from studio.paths import data_dir

    cancel = threading.Event()

    def on_interrupt(*_) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl+C stops at once

    previous = signal.signal(signal.SIGINT, on_interrupt)
    bar = _ByteBar()
    try:
        path = download(args.source, data_dir(getattr(args, "data_dir", None)), bar.show, cancel, name=args.name)
    except DownloadCancelled:
        bar.close()
        print(
            "studio: cancelled; what was downloaded is kept (hidden in the library) and running the same "
            "command again resumes it",
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    note = conversion_note(path)
    if note:
        print(f"studio: note: {printable(note)}", file=sys.stderr)
    print(path)
    return 0


class _ByteBar:
    """A bar of bytes on stderr, with the download's own speed and time left; drawn only when stderr is a terminal."""

    def __init__(self):
        from tqdm import tqdm

        from studio.cli_common import bars_hidden

        self.bar = tqdm(
            total=None,
            file=sys.stderr,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=bars_hidden(),
            dynamic_ncols=True,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}",
        )

    def show(self, progress) -> None:
        from tqdm import tqdm

        if self.bar.disable:
            return
        if progress.total_bytes is not None:
            self.bar.total = progress.total_bytes
        speed = tqdm.format_sizeof(progress.bytes_per_s, "B/s", 1024)
        left = f", {tqdm.format_interval(progress.eta_s)} left" if progress.eta_s is not None else ""
        self.bar.set_description_str(progress.file[-40:], refresh=False)
        self.bar.set_postfix_str(f"{speed}{left}", refresh=False)
        self.bar.n = progress.done_bytes
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
