"""Shared DataModule machinery: tensors per split, placed once on the training device, served by InMemoryLoader."""

from typing import Any, TypedDict

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor

from blueprint.data.loader import BatchTransform, InMemoryLoader
from blueprint.data.quoting import quoted
from blueprint.errors import UserError

Split = tuple[Tensor, ...]
SERVING_INPUTS = "serving_inputs"  # the key of serving_inputs() in the data module's checkpoint state


class Ranks(TypedDict):
    """This process's place under DDP, passed to InMemoryLoader as keyword arguments."""

    rank: int
    world_size: int


class InMemoryDataModule(L.LightningDataModule):
    """Subclasses fill `self.splits` ("train", "val", "test", optionally "predict") in `load_splits`."""

    input_shape: tuple[int, ...] = ()

    def __init__(
        self, batch_size: int = 64, eval_batch_size: int = 512, seed: int = 0, allow_split_change: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise UserError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size < 1:
            raise UserError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.allow_split_change = allow_split_change
        self.splits: dict[str, Split] = {}
        self._on_device: dict[str, Split] = {}
        self._train_loader: InMemoryLoader | None = None

    def load_splits(self) -> dict[str, Split]:
        """Return every split as a tuple of tensors (inputs first)."""
        raise NotImplementedError

    def train_transform(self) -> BatchTransform | None:
        """Per-sample batch augmentation for training; None means no augmentation."""
        return None

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.load_splits()

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

    def _ranks(self) -> Ranks:
        trainer = self.trainer
        if trainer is None:
            return {"rank": 0, "world_size": 1}
        return {"rank": trainer.global_rank, "world_size": trainer.world_size}

    def train_dataloader(self) -> InMemoryLoader:
        """One loader for the whole run (it carries the epoch and the resume position), at the current batch_size.

        Lightning's BatchSizeFinder changes `data.batch_size` between trials and asks for the loader again.
        """
        if self._train_loader is None:
            self._train_loader = self.build_train_loader()
            self._train_loader.consumed = self._batches_trained  # resume at the batch the trainer finished
        self._train_loader.batch_size = self.batch_size
        if len(self._train_loader) == 0:  # Lightning would only warn, "train" nothing and report success
            ranks = self._train_loader.world_size
            raise UserError(
                f"data.batch_size={self.batch_size} is larger than the {self._train_loader.num_samples} training "
                f"samples{f' per process ({ranks} processes)' if ranks > 1 else ''}; full batches only are "
                "trained, so lower data.batch_size"
            )
        return self._train_loader

    def build_train_loader(self) -> InMemoryLoader:
        """Under `trainer.overfit_batches` the same batches come every epoch: no shuffle, no augmentation."""
        overfit = bool(self._overfit_batches())
        return InMemoryLoader(
            self._fixed_order("train") if overfit else self._split("train"),
            self.batch_size,
            shuffle=not overfit,
            drop_last=True,
            seed=self.seed,
            transform=None if overfit else self.train_transform(),
            **self._ranks(),
        )

    def _overfit_batches(self) -> float:
        """The trainer's `overfit_batches` (0 without a trainer): how many batches, or what fraction, to repeat."""
        return getattr(self.trainer, "overfit_batches", 0)  # getattr(None, ...) gives the 0 as well

    def _fixed_order(self, name: str) -> Split:
        """The split in one seeded random order, so the first batches mix classes even when the split is sorted."""
        tensors = self._split(name)
        order = torch.randperm(len(tensors[0]), generator=torch.Generator().manual_seed(self.seed))
        return tuple(t.index_select(0, order.to(t.device)) for t in tensors)

    def _batches_trained(self) -> int:
        """Batches of this epoch the trainer has finished (its loop fetches one ahead); the loader's count if idle."""
        assert self._train_loader is not None
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return self._train_loader.batches_done
        # Lightning types `current` as _ReadyCompletedTracker; _BatchProgress actually holds a _ProcessedTracker
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
        return len(self._train_loader) if done >= trainer.num_training_batches else done

    def _eval_loader(self, name: str) -> InMemoryLoader:
        return InMemoryLoader(self._split(name), self.eval_batch_size, **self._ranks())

    def val_dataloader(self) -> InMemoryLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> InMemoryLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> InMemoryLoader:
        return InMemoryLoader(self._split("predict" if "predict" in self.splits else "test"), self.eval_batch_size)

    def split_identity(self) -> dict[str, Any]:
        """What decides which samples are train, val and test, keyed by data option; a resumed fit must keep it."""
        return {"seed": self.seed}

    def serving_inputs(self) -> dict[str, Any] | None:
        """How raw inputs become this module's tensors, as plain values a server reads from the checkpoint alone.

        `kind` is "image" (uint8-range pixels: `/ 255`, then `(x - mean) / std` per channel), "table" (named feature
        columns, `(x - mean) / std` when standardized) or "frames" (uint8 frames `/ 255`); None: not servable.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        """The split and the training stream's position go into checkpoints, so a resumed run sees the same batches.

        So do the serving inputs, so `blueprint serve` preprocesses requests as this module did the data.
        """
        state: dict[str, Any] = {"split": self.split_identity()}
        inputs = self.serving_inputs()
        if inputs is not None:
            state[SERVING_INPUTS] = inputs
        if self._train_loader is not None:
            state["train_loader"] = self._train_loader.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse a fit resumed on another split, then continue the training stream where it stopped."""
        self.check_same_split(state_dict.get("split"))
        self.restore_train_position(state_dict)

    def restore_train_position(self, state_dict: dict[str, Any]) -> None:
        """The training stream continues at the checkpoint's epoch and batch."""
        if "train_loader" in state_dict:
            self.train_dataloader().load_state_dict(state_dict["train_loader"])
        elif self._train_loader is not None:  # saved before training began (BatchSizeFinder): back to epoch 0
            self._train_loader.load_state_dict({"epoch": 0, "batches_done": 0})

    def check_same_split(self, saved: dict[str, Any] | None) -> None:
        """A fit resumed on another split would train on former val/test samples; evaluating on other data is fine.

        Lightning restores the datamodule for validate/test/predict too, so only `fit` is checked; checkpoints from
        before split identities (None) load as they are.
        """
        trainer = self.trainer
        if saved is None or trainer is None or trainer.state.fn != "fit":
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
