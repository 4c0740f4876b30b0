"""`studio models download REPO_ID_OR_URL`: a model from the Hugging Face Hub (or a URL) into the library."""

from __future__ import annotations


def add_download_parser(actions, common) -> None:
    download = actions.add_parser("download", parents=[common], help="download a model into the library")
    download.add_argument("source", metavar="REPO_ID_OR_URL")


def run_download(args) -> int:
    raise NotImplementedError("studio models download is being written")
