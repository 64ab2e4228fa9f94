"""Lightning's EMA of the weights, made to hold on every path of a run: signal stops, test after fit, pictures."""

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import weight_averaging
from lightning.pytorch.trainer.states import TrainerFn


class EMAWeightAveraging(weight_averaging.EMAWeightAveraging):
    """Lightning's EMAWeightAveraging (configs/presets/ema.yaml), with four differences.

    What it keeps from Lightning: after every optimizer step the average moves towards the weights by (1 - decay);
    validation runs on the average; every checkpoint's `state_dict` is the average (what `test --ckpt_path`,
    `predict`, `serve` and `export` load), with the trained weights under `current_model_state` and the averaging
    counter under `averaging_state`, which `fit --ckpt_path last` restores; after fit the module holds the average.

    1. The average is swapped in for the whole validation (on_validation_start to on_validation_end), not its epoch
       hooks, so every callback's on_validation_epoch_end (FrameGrid's pictures) sees it, whatever the list order;
       ModelCheckpoint, which Lightning runs last, saves after the swap back.
    2. A checkpoint saved while the average is swapped in keeps each set of weights in its place: StopOnSignal's,
       between validation batches, and ModelCheckpoint's last.ckpt at the end of a run that had none (Lightning's
       would save the average as the trained weights, so a resumed run would continue from the average).
    3. At the end of fit the average is swapped into the module, not copied over the trained weights (for 2).
    4. Outside fit (and in test after fit, which keeps this callback's average) a checkpoint's `state_dict` is
       loaded as it is: Lightning's would load `current_model_state` there, so test after fit would test the
       trained weights, not the average.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.swapped = False  # the module holds the average, the averaged model the trained weights

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if stage == "fit":  # a new average of the module's weights
            self.swapped = False

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self._swap_in(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self._swap_out(trainer, pl_module)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Swapped in on_validation_start instead."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Swapped back in on_validation_end instead."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swap_in(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if not self.swapped:
            super().on_save_checkpoint(trainer, pl_module, checkpoint)
            return
        # The module holds the average. checkpoint["state_dict"] holds references to the module's tensors
        # (nn.Module.state_dict is a shallow copy), so after the swap back it holds the trained weights, as
        # Lightning's save expects; copies keep what is saved once the average is swapped in again.
        self._swap_out(trainer, pl_module)
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        for key in ("state_dict", "current_model_state", "averaging_state"):
            checkpoint[key] = {name: value.clone() for name, value in checkpoint[key].items()}
        self._swap_in(trainer, pl_module)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def _swap_in(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.swapped:
            super().on_validation_epoch_start(trainer, pl_module)  # Lightning's swap of the two sets of weights
            self.swapped = True

    def _swap_out(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.swapped:
            super().on_validation_epoch_end(trainer, pl_module)  # the same swap, back
            self.swapped = False
