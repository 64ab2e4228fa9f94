"""JSON request bodies -> the net's input tensors, preprocessed as the data module did; bad input is a BadRequest.

The server decodes the kinds several data modules share (images, table rows); any other kind is the data module's
own, decoded by its `decode_request` (Moving MNIST's frames).
"""

import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from blueprint.data.base import InMemoryDataModule
from blueprint.data.raw_inputs import BadRequest, numbers

IMAGE_FORMATS = ("PNG", "JPEG")
BODY_KEYS = {"image": "image", "table": "rows"}  # the one key a request body holds, per kind; else the kind's name

__all__ = ["BadRequest", "Samples", "decode"]


@dataclass(frozen=True)
class Samples:
    """Preprocessed inputs (N, *input shape) of one request; `many` when it sent a list (rows, or N sequences)."""

    inputs: torch.Tensor
    many: bool


def decode(
    body: dict[str, Any], inputs: dict[str, Any], data_class: type[InMemoryDataModule] = InMemoryDataModule
) -> Samples:
    """The request's samples, checked against the checkpoint's input description (`serving_inputs`) and decoded by
    the server (shared kinds) or by the data module class that wrote it."""
    key = BODY_KEYS.get(inputs["kind"], inputs["kind"])
    if set(body) != {key}:
        other = sorted(set(body) - {key})
        found = f"unknown key {other[0]!r}" if other else "no key"
        raise BadRequest(f"the body has {found}; send a JSON object with one key, {key!r} (see GET /info)")
    if inputs["kind"] == "image":
        return Samples(image(body[key], inputs)[None], many=False)
    if inputs["kind"] == "table":
        return table(body[key], inputs)
    values, many = data_class.decode_request(body[key], inputs)
    return Samples(values, many)


def image(value: Any, inputs: dict[str, Any]) -> torch.Tensor:
    """A base64 PNG/JPEG or pixels 0-255 in the dataset's shape (C, H, W), or (H, W) for one channel -> (C, H, W)."""
    channels, height, width = inputs["shape"]
    pixels = image_file(value, channels, (width, height)) if isinstance(value, str) else numbers(value, "image", 0, 255)
    if channels == 1 and pixels.shape == (height, width):
        pixels = pixels[None]
    if pixels.shape != (channels, height, width):
        raise BadRequest(
            f"image has shape {list(pixels.shape)}; this model takes {[channels, height, width]} (channels, height, "
            "width) pixels 0-255" + (f" or {[height, width]}" if channels == 1 else "")
        )
    mean = torch.tensor(inputs["mean"]).reshape(-1, 1, 1)
    std = torch.tensor(inputs["std"]).reshape(-1, 1, 1)
    return (torch.from_numpy(pixels).float() / 255.0 - mean) / std


def image_file(text: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """A base64-encoded PNG or JPEG of `size` (width, height) -> (C, H, W) pixels, grey or RGB as in training.

    The size is checked before any pixel is decoded: a small file may claim a huge image.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image is a string but not base64; send a base64 PNG/JPEG or a list of pixels") from None
    try:
        with Image.open(io.BytesIO(data)) as file:
            if file.format not in IMAGE_FORMATS:
                raise BadRequest(f"image is a {file.format} file; send a PNG or JPEG")
            if file.size != size:
                raise BadRequest(f"image is {file.size[0]}x{file.size[1]} pixels; this model takes {size[0]}x{size[1]}")
            pixels = np.array(file.convert("L" if channels == 1 else "RGB"))  # a copy torch may write to
    except Image.DecompressionBombError as err:  # PIL refuses it on reading the header, before the size check above
        reason = str(err).split(",")[0]  # "Image size (N pixels) exceeds limit of M pixels, could be ..."
        raise BadRequest(f"image is too large: {reason}; this model takes {size[0]}x{size[1]} pixels") from None
    except (UnidentifiedImageError, OSError) as err:
        raise BadRequest(f"image is not a PNG or JPEG file ({type(err).__name__}); send a base64 PNG/JPEG") from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def table(value: Any, inputs: dict[str, Any]) -> Samples:
    """One row (an object) or many (a list of objects) keyed by the training CSV's feature names."""
    rows = value if isinstance(value, list) else [value]
    if not rows or not all(isinstance(row, dict) for row in rows):
        raise BadRequest("rows must be an object or a non-empty list of objects keyed by feature name (see GET /info)")
    names: list[str] = inputs["features"]
    values = np.empty((len(rows), len(names)), dtype=np.float64)
    for index, row in enumerate(rows):
        missing = [name for name in names if name not in row]
        if missing:
            raise BadRequest(f"row {index} misses feature {missing[0]!r}; every row needs all of {names}")
        extra = [name for name in row if name not in names]
        if extra:
            raise BadRequest(f"row {index} has unknown feature {extra[0]!r}; the features are {names}")
        for column, name in enumerate(names):
            number = row[name]
            if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
                raise BadRequest(f"row {index} feature {name!r} is {number!r}; send a finite number")
            values[index, column] = number
    features = torch.from_numpy(values.astype(np.float32))  # as the CSV reader stores features
    if inputs["mean"] is not None:
        features = (features - torch.tensor(inputs["mean"])) / torch.tensor(inputs["std"])
    return Samples(features, many=isinstance(value, list))
