"""A streaming dataset folder: one LitData folder per split and `stream.json`, which says how to serve its samples.

    <root>/stream.json      what StreamingDataModule needs before reading a sample (shape, classes, layout, ...)
    <root>/train/index.json LitData's own index and chunk-*.bin files, written by litdata.optimize
    <root>/val/...  <root>/test/...

A local path is checked here in full (each split's index.json, and every chunk it lists at the size it records); a
URL (s3://, gs://, ...) is LitData's business, only its stream.json is read.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from blueprint.errors import UserError

INFO_FILE = "stream.json"
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1
WRITE_HINT = "write one with `uv run blueprint stream -c <experiment>.yaml --out_dir <folder>`"
REWRITE_HINT = "write the stream again with `uv run blueprint stream -c <experiment>.yaml --out_dir <new folder>`"

Layout = Literal["tensors", "frames"]


@dataclass
class StreamInfo:
    """Everything about a stream that is known without reading a chunk; saved as stream.json by the writer.

    `stored_shape`: the first tensor of a stored sample (uint8 frames, or images before the net's view of them).
    layout "tensors": each sample is the tuple a DataModule's split holds (inputs first, then targets, ...).
    any other layout is the source DataModule's own (its `stream_layout` and `stream_batch` hooks): "frames", each
    sample one uint8 sequence (T, H, W) served as (inputs, targets) split at `input_frames` (Moving MNIST).
    `mean`/`std`: per-channel statistics applied to uint8 inputs (scaled to [0, 1] first); None when stored
    inputs are ready to use. `augment`: the source's random crop/flip (padding, hflip, fill), or None.
    """

    input_shape: list[int]
    stored_shape: list[int]
    num_samples: dict[str, int]
    layout: Layout = "tensors"
    num_classes: int | None = None
    classes: list[str] | None = None
    input_frames: int | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    augment: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def is_url(root: str) -> bool:
    """s3://bucket/path and the like: served by LitData (with a local cache), not checked file by file here."""
    return "://" in root


def read_info(root: str) -> StreamInfo:
    """The stream's description; a folder that is missing, empty or not written by the writer is one clear line."""
    text = read_url_text(f"{root.rstrip('/')}/{INFO_FILE}") if is_url(root) else read_local_info(Path(root))
    try:
        values = json.loads(text)
        info = StreamInfo(**values)
    except (json.JSONDecodeError, TypeError) as err:
        raise UserError(f"data.root {root!r}: {INFO_FILE} is not a stream description ({err}); {WRITE_HINT}") from err
    if info.version != FORMAT_VERSION:
        raise UserError(
            f"data.root {root!r} was written in stream format {info.version}, this blueprint reads {FORMAT_VERSION}; "
            "write it again with `blueprint stream`"
        )
    return info


def read_local_info(root: Path) -> str:
    """Check the local folder split by split, then return its stream.json text."""
    if not root.exists():
        raise UserError(f"data.root '{root}' does not exist; {WRITE_HINT}")
    if not root.is_dir():
        raise UserError(f"data.root '{root}' is a file, not a folder; {WRITE_HINT}")
    if not any(root.iterdir()):
        raise UserError(f"data.root '{root}' is empty; {WRITE_HINT}")
    info = root / INFO_FILE
    missing = [str(root / name / "index.json") for name in SPLITS if not (root / name / "index.json").is_file()]
    if not info.is_file() or missing:
        absent = [str(info)] if not info.is_file() else missing
        raise UserError(f"data.root '{root}' is not a LitData stream folder (no {', '.join(absent)}); {WRITE_HINT}")
    for split in SPLITS:
        check_chunks(root / split)
    return info.read_text()


def damaged(path: Path, what: str) -> UserError:
    """A stream whose files changed after writing cannot be repaired here: it is written again."""
    return UserError(f"stream file '{path}' {what}; the stream is damaged or was copied in part: {REWRITE_HINT}")


def chunk_list(index: Path) -> list[dict[str, Any]]:
    """LitData's index.json: its `chunks`, each naming a chunk file and its size (as litdata.optimize wrote it)."""
    try:
        values = json.loads(index.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise damaged(index, f"is not valid JSON ({err})") from err
    chunks = values.get("chunks") if isinstance(values, dict) else None
    if not isinstance(chunks, list) or "config" not in values:
        raise damaged(index, "is not a LitData index (no `chunks` list or `config`)")
    for chunk in chunks:
        if not (isinstance(chunk, dict) and isinstance(chunk.get("filename"), str)
                and isinstance(chunk.get("chunk_bytes"), int)):  # fmt: skip
            raise damaged(index, f"lists a chunk without `filename` and `chunk_bytes`: {chunk!r}")
    return chunks


def check_chunks(split: Path) -> None:
    """Every chunk a split's index lists is there, whole: LitData would otherwise wait minutes for a 'download'."""
    for chunk in chunk_list(split / "index.json"):
        path = split / chunk["filename"]
        if not path.is_file():
            raise damaged(path, "is missing")
        size = path.stat().st_size
        if size != chunk["chunk_bytes"]:
            raise damaged(path, f"has {size} bytes but its index.json says {chunk['chunk_bytes']}")


def read_url_text(url: str) -> str:
    """A small remote file through fsspec (installed with torch); the bucket's own package (s3fs, gcsfs) reads it."""
    import fsspec

    try:
        with fsspec.open(url, "r") as file:
            return file.read()
    except (OSError, ImportError, ValueError) as err:
        raise UserError(
            f"data.root: cannot read {url!r} ({type(err).__name__}: {err}); check the URL and access"
        ) from err
