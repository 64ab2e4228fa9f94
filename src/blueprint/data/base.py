"""Shared DataModule machinery: tensors per split, placed once on the training device, served by torch DataLoaders."""

import warnings
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor
from torch.utils.data import DataLoader

from blueprint.data.batched import BatchDataset, BatchedTensorDataset, BatchTransform
from blueprint.data.dataloaders import (
    ResumableDistributedSampler,
    ResumableSampler,
    ResumableSequentialSampler,
    batched_loader,
    evaluation_sampler,
    every_rank_sampler,
)
from blueprint.data.quoting import quoted
from blueprint.data.stream_parts import ROWS_PER_PART, Rows, StreamPart
from blueprint.errors import UserError

Split = tuple[Tensor, ...]
SERVING_INPUTS = "serving_inputs"  # the key of serving_inputs() in the data module's checkpoint state
SERVING_DATA = "serving_data_class"  # and of the class path whose decode_request decodes the module's own kinds


class InMemoryDataModule(L.LightningDataModule):
    """Subclasses fill `self.splits` ("train", "val", "test", optionally "predict") in `load_splits`.

    Every `*_dataloader()` is a torch DataLoader over a BatchedTensorDataset (one `index_select` per batch); training
    shuffles with a DistributedSampler that also carries the resume position.
    """

    input_shape: tuple[int, ...] = ()

    def __init__(
        self, batch_size: int = 64, eval_batch_size: int = 512, seed: int = 0, allow_split_change: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise UserError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size < 1:
            raise UserError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        self._batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.allow_split_change = allow_split_change
        self.splits: dict[str, Split] = {}
        self._on_device: dict[str, Split] = {}
        self._train_sampler: ResumableSampler | None = None

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        """Once training is set up, at most this rank's training samples: full batches only are trained.

        Lightning's BatchSizeFinder doubles the batch size while it is below the dataset's length; past half the split
        it would ask for a batch no epoch can fill, so it gets the whole split instead, and stops there.
        """
        sampler = self._train_sampler
        self._batch_size = min(value, len(sampler)) if sampler is not None and len(sampler) > 0 else value

    def load_splits(self) -> dict[str, Split]:
        """Return every split as a tuple of tensors (inputs first)."""
        raise NotImplementedError

    def train_transform(self) -> BatchTransform | None:
        """Per-sample batch augmentation for training; None means no augmentation."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.load_splits()
        # Batches come from tensors already on the training device: worker processes could only copy them back and
        # forth (and cannot share CUDA tensors), so Lightning's advice to add DataLoader workers does not apply here
        warnings.filterwarnings("ignore", message=r"The '\w+_dataloader' does not have many workers")

    def _device(self) -> torch.device:
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _split(self, name: str) -> Split:
        """The split's tensors on the training device, moved there once."""
        self.setup()
        if name not in self.splits:
            raise UserError(f"{type(self).__name__} has no {name!r} split")
        device = self._device()
        cached = self._on_device.get(name)
        if cached is None or cached[0].device != device:
            cached = tuple(t.to(device) for t in self.splits[name])
            self._on_device[name] = cached
        return cached

    def _ranks(self) -> tuple[int, int]:
        """(rank, world size) of this process under DDP; (0, 1) without a trainer."""
        trainer = self.trainer
        return (0, 1) if trainer is None else (trainer.global_rank, trainer.world_size)

    def train_dataloader(self) -> DataLoader:
        """A new DataLoader at the current batch_size (Lightning's BatchSizeFinder changes it and asks again) over the
        split as it is now; one sampler for the whole run carries the epoch and the resume position.
        """
        dataset = self.train_dataset()
        sampler = self._train_sampler
        if sampler is None or sampler.dataset_length != len(dataset):
            sampler = self._train_sampler = self._build_train_sampler(dataset)
        self.check_batch_fits(len(sampler), self._ranks()[1])
        return batched_loader(dataset, self.batch_size, self.seed, sampler, drop_last=True)

    def check_batch_fits(self, samples: int, ranks: int = 1) -> None:
        """Lightning would only warn, "train" nothing and report success; so a batch larger than the data is refused."""
        if samples < self.batch_size:
            raise UserError(
                f"data.batch_size={self.batch_size} is larger than the {samples} training "
                f"samples{f' per process ({ranks} processes)' if ranks > 1 else ''}; full batches only are "
                "trained, so lower data.batch_size"
            )

    def train_dataset(self) -> BatchDataset:
        """Under `trainer.overfit_batches` the same batches come every epoch: no shuffle, no augmentation."""
        if self._overfit_batches():
            return BatchedTensorDataset(self._fixed_order("train"))
        return BatchedTensorDataset(self._split("train"), self.train_transform(), self.seed)

    def _build_train_sampler(self, dataset: BatchDataset) -> ResumableSampler:
        """Shuffled shards, or one fixed order when overfitting (Lightning swaps a shuffling sampler out, warning)."""
        if self._overfit_batches():
            return ResumableSequentialSampler(dataset)
        rank, world_size = self._ranks()
        return ResumableDistributedSampler(dataset, self.seed, world_size, rank)

    def _overfit_batches(self) -> float:
        """The trainer's `overfit_batches` (0 without a trainer): how many batches, or what fraction, to repeat."""
        return getattr(self.trainer, "overfit_batches", 0)  # getattr(None, ...) gives the 0 as well

    def _fixed_order(self, name: str) -> Split:
        """The split in one seeded random order, so the first batches mix classes even when the split is sorted."""
        tensors = self._split(name)
        order = torch.randperm(len(tensors[0]), generator=torch.Generator().manual_seed(self.seed))
        return tuple(t.index_select(0, order.to(t.device)) for t in tensors)

    def _batches_trained(self, sampler: ResumableSampler) -> int:
        """Batches of this epoch the trainer has finished (its loop fetches one ahead); the sampler's count if idle."""
        per_epoch = len(sampler) // self.batch_size
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return sampler.handed_out // self.batch_size
        # Lightning types `current` as _ReadyCompletedTracker; _BatchProgress actually holds a _ProcessedTracker
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
        return per_epoch if done >= trainer.num_training_batches else done

    def eval_dataset(self, name: str) -> BatchDataset:
        return BatchedTensorDataset(self._split(name))

    def _eval_loader(self, name: str) -> DataLoader:
        dataset = self.eval_dataset(name)
        rank, world_size = self._ranks()
        sampler = evaluation_sampler(dataset, world_size, rank)
        return batched_loader(dataset, self.eval_batch_size, self.seed, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        """In order, whole on every rank; Lightning wraps its batch sampler to track each prediction's indices."""
        dataset = self.eval_dataset("predict" if "predict" in self.splits else "test")
        sampler = every_rank_sampler(dataset, self._ranks()[1])
        return batched_loader(dataset, self.eval_batch_size, self.seed, sampler)

    def split_identity(self) -> dict[str, Any]:
        """What decides which samples are train, val and test, keyed by data option; a resumed fit must keep it."""
        return {"seed": self.seed}

    def serving_inputs(self) -> dict[str, Any] | None:
        """How raw inputs become this module's tensors, as plain values a server reads from the checkpoint alone.

        `kind` is "image" (uint8-range pixels: `/ 255`, then `(x - mean) / std` per channel), "table" (named feature
        columns, `(x - mean) / std` when standardized), or a kind of the module's own that its `decode_request`
        decodes (Moving MNIST's "frames"); None: not servable.
        """
        return None

    @classmethod
    def decode_request(cls, value: Any, inputs: dict[str, Any]) -> tuple[Tensor, bool]:
        """`blueprint serve`: a request's value for a `serving_inputs()` kind of this module's own -> its inputs
        (N, *input_shape) and whether it sent many samples; bad input is a `raw_inputs.BadRequest`.

        A class method: the server has no data module, only this class (its path saved with the serving inputs) and
        the `inputs` description. The shared kinds ("image", "table") the server decodes itself.
        """
        raise NotImplementedError(f"{cls.__name__} has no serving kind of its own ({inputs['kind']!r})")

    def stream_parts(self, split: str, train_samples: int | None = None) -> list[StreamPart]:
        """`blueprint stream`: the split cut into parts its writer processes write (see data/stream_parts.py).

        Training samples go in one seeded random order: LitData shuffles chunks and a window of samples, so a split
        sorted by class must not stay so. `train_samples` (`--train_sequences`) is for modules that render their
        training samples (Moving MNIST); a split held in memory is written whole.
        """
        self.setup()
        tensors = self.splits[split]
        total = len(tensors[0])
        if split == "train":
            order = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))
            tensors = tuple(t[order] for t in tensors)
        return [Rows(tensors, start, min(start + ROWS_PER_PART, total)) for start in range(0, total, ROWS_PER_PART)]

    def stream_layout(self) -> dict[str, Any]:
        """What stream.json says about how stored samples are served (fields of streaming.format.StreamInfo).

        "tensors": each sample is the tuple a split holds, served as it is (uint8 images normalized, augmented);
        any other layout is this module's own, served by its `stream_batch`.
        """
        return {"layout": "tensors"}

    @classmethod
    def stream_batch(cls, batch: list[Tensor], stream: dict[str, Any]) -> tuple[Tensor, ...]:
        """A collated batch of stored samples in this module's own `stream_layout` -> the batch the task gets.

        A class method: the streaming loader has only this class (its path in stream.json) and `stream`, the
        stream.json description as plain values.
        """
        raise NotImplementedError(f"{cls.__name__} has no stream layout of its own ({stream.get('layout')!r})")

    def state_dict(self) -> dict[str, Any]:
        """The split and the training stream's position go into checkpoints, so a resumed run sees the same batches.

        So do the serving inputs and this class's path, so `blueprint serve` preprocesses requests as this module
        did the data.
        """
        state: dict[str, Any] = {"split": self.split_identity()}
        inputs = self.serving_inputs()
        if inputs is not None:
            state[SERVING_INPUTS] = inputs
            state[SERVING_DATA] = f"{type(self).__module__}.{type(self).__qualname__}"
        if self._train_sampler is not None:
            state["train_loader"] = self.train_position(self._train_sampler)
        return state

    def train_position(self, sampler: ResumableSampler) -> dict[str, int]:
        """The epoch and how many of its batches were trained on; a finished epoch rolls over to the next one."""
        done = self._batches_trained(sampler)
        if done >= len(sampler) // self.batch_size:
            return {"epoch": sampler.epoch + 1, "batches_done": 0}
        return {"epoch": sampler.epoch, "batches_done": done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a fit resumed on another split, then continue the training stream where it stopped."""
        self.check_same_split(state_dict.get("split"))
        self.restore_train_position(state_dict)

    def restore_train_position(self, state_dict: dict[str, Any]) -> None:
        """The next training pass skips the batches the checkpoint's epoch trained on, once.

        Lightning sets the sampler's epoch from its restored loop before each epoch; setting it here too makes a
        restored module continue the same stream without a trainer.
        """
        position = state_dict.get("train_loader")
        if position is None and self._train_sampler is None:
            return
        if position is None:  # saved before training began (BatchSizeFinder): back to epoch 0
            position = {"epoch": 0, "batches_done": 0}
        self.train_dataloader()  # builds the sampler (and checks the batch size)
        assert self._train_sampler is not None
        self._train_sampler.set_epoch(int(position["epoch"]))
        self._train_sampler.skip = int(position["batches_done"]) * self.batch_size

    def check_same_split(self, saved: dict[str, Any] | None) -> None:
        """A fit resumed on another split would train on former val/test samples; evaluating on other data is fine.

        Lightning restores the datamodule for validate/test/predict too, so only `fit` is checked; checkpoints from
        before split identities (None) load as they are.
        """
        trainer = self.trainer
        if trainer is not None and trainer.state.fn == "fit":
            self.check_split_matches(saved)

    def check_split_matches(self, saved: dict[str, Any] | None) -> None:
        """The resumed fit's split is the checkpoint's (`blueprint fit` checks it before writing anything, too)."""
        if saved is None:
            return
        current = self.split_identity()
        changed = [key for key in saved if key in current and saved[key] != current[key]]
        if not changed:
            return
        what = "; ".join(split_change(key, saved[key], current[key]) for key in changed)
        if self.allow_split_change:
            rank_zero_warn(
                f"the resumed fit uses another data split than its checkpoint ({what}); data.init_args."
                "allow_split_change is set, so it goes on, but it may now train on former validation or test samples"
            )
            return
        fixes = " and ".join(split_fix(key, saved[key]) for key in changed)
        raise UserError(
            f"the checkpoint was trained on another data split ({what}); resuming can train on former validation "
            f"and test samples: resume with {fixes}, or start a new run without --ckpt_path (or set "
            "data.init_args.allow_split_change true to accept it)"
        )


def split_change(key: str, saved: Any, current: Any) -> str:
    """One changed part of a split, by the option behind it: a file by its content hash, a setting by its value."""
    if key.endswith("_sha256"):
        option = f"data.init_args.{key.removesuffix('_sha256')}"
        return f"{option} differs (file {_digest(saved)} then, {_digest(current)} now)"
    return f"data.init_args.{key} was {quoted(saved)}, now {quoted(current)}"


def _digest(sha256: str | None) -> str:
    """A file by the start of its hash, enough to tell two apart."""
    return f"sha256 {sha256[:12]}..." if sha256 else "none"


def split_fix(key: str, saved: Any) -> str:
    """How to resume on the checkpoint's split for one changed part of it."""
    if key.endswith("_sha256"):
        option = f"data.init_args.{key.removesuffix('_sha256')}"
        return f"{option}=null" if saved is None else f"the {option} file the run was trained on"
    return f"data.init_args.{key}={quoted(saved)}"
