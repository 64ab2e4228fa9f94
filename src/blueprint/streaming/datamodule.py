"""Train from a LitData stream folder (local or a URL LitData reads) instead of tensors held in memory.

Any experiment switches to it with `-c configs/presets/streaming.yaml --data.init_args.root <folder>`; the folder is
written from that experiment's own DataModule by `blueprint stream`, so samples, splits and preprocessing
are the ones the in-memory path uses.
"""

from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from litdata import StreamingDataLoader, StreamingDataset
from torch import Tensor

from blueprint.cli.config_files import class_named
from blueprint.data.base import InMemoryDataModule
from blueprint.data.batched import CropFlip
from blueprint.errors import UserError
from blueprint.streaming.format import INFO_FILE, StreamInfo, damaged, is_url, read_info
from blueprint.streaming.loader import TrainedPositionLoader


def serve_tensors(info: StreamInfo, crop_flip: CropFlip | None, batch: list[Tensor], generator: torch.Generator):
    """Inputs first: uint8 images scaled and normalized by the stream's statistics, then augmented when training."""
    inputs, *rest = batch
    if inputs.dtype == torch.uint8 and info.mean is not None and info.std is not None:
        shape = (1, -1) + (1,) * (inputs.dim() - 2)
        mean, std = torch.tensor(info.mean).view(shape), torch.tensor(info.std).view(shape)
        inputs = (inputs.float() / 255.0 - mean) / std
    if crop_flip is not None:
        inputs = crop_flip(inputs, generator)
    return (inputs, *rest)


def serve_own_layout(
    source: type[InMemoryDataModule], stream: dict[str, Any], batch: list[Tensor], generator: torch.Generator
) -> tuple[Tensor, ...]:
    """A layout of the source module's own (Moving MNIST's "frames") is served by its `stream_batch` hook."""
    return source.stream_batch(batch, stream)


def source_class(root: str, info: StreamInfo) -> type[InMemoryDataModule]:
    """The DataModule class that wrote the stream, by the class path stream.json names."""
    class_path = str(info.source.get("class_path", ""))
    source = class_named(class_path)
    if not (isinstance(source, type) and issubclass(source, InMemoryDataModule)):
        raise UserError(
            f"data.root '{root}' stores samples in layout {info.layout!r}, which its source {class_path!r} serves, "
            "but that class is not importable here; write the stream again from this project's experiment"
        )
    return source


class StreamingDataModule(L.LightningDataModule):
    """Batches streamed by LitData's StreamingDataset/StreamingDataLoader: shuffled, sharded per rank, resumable.

    `root` holds train/, val/ and test/ LitData folders and stream.json (see blueprint.streaming.format); a URL
    (s3://...) is streamed through LitData with chunks cached in `cache_dir`. `num_workers` loader processes read
    and decode chunks. `augment` applies the source's random crop/flip per sample, as the in-memory path does.
    """

    def __init__(
        self,
        root: str | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 512,
        num_workers: int = 0,
        shuffle: bool = True,
        augment: bool = True,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__()
        if root is None:
            raise UserError(
                "data.init_args.root is not set; write the experiment's data with `uv run blueprint stream "
                "-c <experiment>.yaml --out_dir <folder>` and pass --data.init_args.root <folder>"
            )
        for name, value, least in (("batch_size", batch_size, 1), ("eval_batch_size", eval_batch_size, 1)):
            if value < least:
                raise UserError(f"data.{name} must be >= {least}, got {value}")
        if num_workers < 0:
            raise UserError(f"data.num_workers must be >= 0, got {num_workers}")
        self.root = root.rstrip("/")
        self.info = read_info(self.root)  # a local folder's files are checked there, its samples below
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.shuffle, self.augment, self.seed, self.cache_dir = shuffle, augment, seed, cache_dir
        self._train_loader: TrainedPositionLoader | None = None
        self.check_samples()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's input shape, as the net gets it (checked against the net before training)."""
        return tuple(self.info.input_shape)

    @property
    def num_classes(self) -> int | None:
        return self.info.num_classes

    @property
    def classes(self) -> list[str] | None:
        return self.info.classes

    def dataset(self, split: str, train: bool = False) -> StreamingDataset:
        """One split's StreamingDataset; built after DDP starts, so LitData gives each rank its own shard."""
        return StreamingDataset(
            f"{self.root}/{split}",
            cache_dir=None if self.cache_dir is None else f"{self.cache_dir}/{split}",
            shuffle=self.shuffle and train,
            drop_last=train,  # ranks must step together
            seed=self.seed,
        )

    def check_samples(self) -> None:
        """The stored samples must have the shape stream.json announces: the net is sized from stream.json next, so
        a folder changed after writing is named here, not as a net option to change. A URL is read only when
        training starts (its first chunk is a download)."""
        if is_url(self.root):
            return
        try:
            sample = self.dataset("train")[0]
        except Exception as err:  # a chunk of the right size but garbled bytes: LitData's error says nothing of why
            what = f"holds a chunk LitData cannot read ({type(err).__name__})"
            raise damaged(Path(self.root, "train"), what) from err
        stored = tuple(sample[0].shape) if isinstance(sample, list | tuple) else ()
        if stored != tuple(self.info.stored_shape):
            raise damaged(
                Path(self.root, INFO_FILE),
                f"says samples of shape {tuple(self.info.stored_shape)} but they have shape {stored}",
            )

    def batch_fn(self, train: bool):
        """What each collated batch becomes before the task sees it."""
        if self.info.layout != "tensors":
            return partial(serve_own_layout, source_class(self.root, self.info), asdict(self.info))
        crop_flip = None
        if train and self.augment and self.info.augment is not None:
            crop_flip = CropFlip(**self.info.augment)
        return partial(serve_tensors, self.info, crop_flip)

    def rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def train_dataloader(self) -> TrainedPositionLoader:
        """One loader for the whole fit: Lightning checkpoints its state_dict and restores it on resume."""
        if self._train_loader is None:
            loader = TrainedPositionLoader(
                self.dataset("train", train=True),
                self.batch_size,
                self.num_workers,
                self.batch_fn(train=True),
                self.seed,
                self.rank(),
            )
            if len(loader) == 0:
                raise UserError(
                    f"data.batch_size={self.batch_size} is larger than the {self.info.num_samples['train']} training "
                    "samples (per process under DDP); full batches only are trained, so lower data.batch_size"
                )
            loader.trained = self.batches_trained
            self._train_loader = loader
        return self._train_loader

    def batches_trained(self) -> int:
        """Batches of this epoch the trainer has finished (its loop fetches one ahead); the loader's count if idle."""
        loader, trainer = self._train_loader, self.trainer
        assert loader is not None
        if trainer is None or trainer.state.fn != "fit":
            return loader.batches_yielded
        # Lightning types `current` as _ReadyCompletedTracker; _BatchProgress actually holds a _ProcessedTracker
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
        return len(loader) if done >= trainer.num_training_batches else done

    def eval_loader(self, split: str) -> StreamingDataLoader:
        """Evaluation batches in stored order; LitData's batches go through the same conversion as training's."""
        fn = self.batch_fn(train=False)
        dataset = self.dataset(split)
        return StreamingDataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            collate_fn=partial(collate_then, fn),
            generator=torch.Generator().manual_seed(self.seed),  # not the global RNG (see TrainedPositionLoader)
        )

    def val_dataloader(self) -> StreamingDataLoader:
        return self.eval_loader("val")

    def test_dataloader(self) -> StreamingDataLoader:
        return self.eval_loader("test")

    def predict_dataloader(self) -> StreamingDataLoader:
        return self.eval_loader("test")

    def stream_identity(self) -> dict[str, Any]:
        """What a checkpoint records of the stream it was trained on: where its samples came from, how many."""
        return {"source": self.info.source, "num_samples": self.info.num_samples}

    def state_dict(self) -> dict[str, Any]:
        """Which stream a checkpoint was trained on, and the training loader's position (LitData's own state_dict).

        Lightning saves the loader's state with its fit loop too, but restores it only when it builds the loader
        after the checkpoint is read; a schedule sized by the run builds it before. The DataModule restores first.
        """
        state: dict[str, Any] = {"stream": self.stream_identity()}
        if self._train_loader is not None:
            state["train_loader"] = self._train_loader.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a fit resumed on another stream (other samples, maybe former val/test ones); then go on where it
        stopped."""
        saved, trainer = state_dict.get("stream"), self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return
        if saved is not None and saved != self.stream_identity():
            raise UserError(
                f"the checkpoint was trained on another stream than data.root '{self.root}' (written from "
                f"{saved.get('source', {}).get('class_path')} with {saved.get('num_samples')} samples); resume "
                "with the folder it was trained on, or start a new run without --ckpt_path"
            )
        if "train_loader" in state_dict:
            self.train_dataloader().load_state_dict(state_dict["train_loader"])


def collate_then(fn, samples: list[Any]) -> tuple[Tensor, ...]:
    """LitData's default collate, then the stream's conversion (no randomness: evaluation)."""
    from torch.utils.data import default_collate

    return fn(default_collate(samples), torch.Generator())
