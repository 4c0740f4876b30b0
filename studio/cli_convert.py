"""`studio models convert FILE`: a pickled checkpoint's tensors into a safetensors file beside it."""

from __future__ import annotations


def add_convert_parser(actions, common) -> None:
    convert = actions.add_parser("convert", parents=[common], help="turn a .ckpt/.pt/.bin file into .safetensors")
    convert.add_argument("file", metavar="FILE")


def run_convert(args) -> int:
    raise NotImplementedError("studio models convert is being written")
