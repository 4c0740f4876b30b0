"""`studio models ...`: the models library on the command line (list, add, remove, convert, download)."""

from __future__ import annotations

import argparse


def add_models_parser(commands, common) -> None:
    models = commands.add_parser(
        "models",
        parents=[common],
        help="list, add, remove, convert or download models",
        description="The models library in DATA_DIR/models (checkpoints, loras, embeddings, vae) "
        "and the folders added to it.",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    from studio.cli_convert import add_convert_parser
    from studio.cli_download import add_download_parser

    add_convert_parser(actions, common)
    add_download_parser(actions, common)


def run_models_command(args: argparse.Namespace) -> int:
    if args.models_command == "convert":
        from studio.cli_convert import run_convert

        return run_convert(args)
    if args.models_command == "download":
        from studio.cli_download import run_download

        return run_download(args)
    raise AssertionError(f"unknown models action {args.models_command!r}")
