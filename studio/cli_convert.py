"""`studio models convert FILE`: a pickled checkpoint's tensors into a safetensors file beside it."""

from __future__ import annotations

import sys


def add_convert_parser(actions, common) -> None:
    convert = actions.add_parser(
        "convert",
        parents=[common],
        help="turn a .ckpt/.pt/.pth/.bin file into .safetensors",
        description="Read the tensors of a pickled checkpoint with torch's restricted loader (a file that "
        "asks for anything else is refused unread: loading it could run code) and write them to a new "
        ".safetensors file. Prints the new file's path.",
    )
    convert.add_argument("file", metavar="FILE", help="the .ckpt, .pt, .pth or .bin file")
    convert.add_argument(
        "--out",
        metavar="FILE",
        help="where to write (default: FILE's name with .safetensors, beside it); never replaced",
    )


def run_convert(args) -> int:
    from studio.cli_gallery import printable
    from studio.library.convert import convert_pickle, summary

    result = convert_pickle(args.file, args.out)
    print(result.path, flush=True)
    print(f"studio: {printable(summary(result))}", file=sys.stderr)
    return 0
