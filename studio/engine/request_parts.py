# pyright: standard
"""What the picture-in requests (edit, img2img, upscale) check and hold alike: an RGB picture,
numbers, frozen copies, and the generation settings read through from their GenerateRequest."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np

from studio.engine.request import GenerateRequest
from studio.errors import RequestError

_Request = TypeVar("_Request", bound="GenerateSettings")


def rgb(image) -> np.ndarray:
    """`image` as an H x W x 3 uint8 array (an alpha channel dropped), or a RequestError."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.ndim != 3 or array.shape[2] != 3:
        raise RequestError(f"the image must be H x W x 3 (RGB), not an array of shape {array.shape}")
    if array.dtype != np.uint8:
        raise RequestError(f"the image must hold uint8 pixels, not {array.dtype}")
    return array


def is_number(value: Any) -> bool:
    """Whether `value` is an int or float (numpy's too), not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def is_whole(value: Any) -> bool:
    """Whether `value` is an int (numpy's too), not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only C-ordered copy of `array`."""
    copy = np.array(array, copy=True, order="C")
    copy.flags.writeable = False
    return copy


class GenerateSettings:
    """The generation settings of a request that holds a GenerateRequest as `generate`, read
    through, so code that shows any job can show this one; `replace` changes either."""

    generate: GenerateRequest
    __dataclass_fields__: ClassVar[dict[str, Any]]  # the subclass is a dataclass

    prompt = property(lambda self: self.generate.prompt)
    negative_prompt = property(lambda self: self.generate.negative_prompt)
    seed = property(lambda self: self.generate.seed)
    steps = property(lambda self: self.generate.steps)
    guidance_scale = property(lambda self: self.generate.guidance_scale)
    scheduler = property(lambda self: self.generate.scheduler)
    count = property(lambda self: self.generate.count)
    model = property(lambda self: self.generate.model)
    seeds = property(lambda self: self.generate.seeds)

    def replace(self: _Request, **changes: Any) -> _Request:
        """A copy with `changes`; names of GenerateRequest fields change `generate`."""
        own = {f.name for f in dataclasses.fields(self) if f.init}
        settings = {k: v for k, v in changes.items() if k not in own}
        values = {k: v for k, v in changes.items() if k in own}
        if settings:
            values["generate"] = values.get("generate", self.generate).replace(**settings)
        return dataclasses.replace(self, **values)
