"""Next month's temperature from the last two years, the regression example of docs/add_a_dataset.md."""

import math
from typing import Any

import torch

from blueprint.data.base import InMemoryDataModule, Split


class MonthlyTemperatureDataModule(InMemoryDataModule):
    """A seasonal series in °C (generated, so offline); inputs are the last `window` months, the target the next."""

    def __init__(
        self,
        months: int = 1200,
        window: int = 24,
        noise: float = 1.0,
        batch_size: int = 64,
        eval_batch_size: int = 512,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed)
        self.months, self.window, self.noise = months, window, noise
        self.input_shape = (window,)
        # RegressionTask reads (mean, std) of the training targets at fit: the net learns standardized targets,
        # while metrics, `predict` and `serve` answer in °C
        self.target_stats: tuple[float, float] | None = None
        self.input_mean = self.input_std = 0.0

    def load_splits(self) -> dict[str, Split]:
        generator = torch.Generator().manual_seed(self.seed)
        month = torch.arange(self.months, dtype=torch.float32)
        celsius = (
            12 + 8 * torch.sin(2 * math.pi * month / 12) + self.noise * torch.randn(self.months, generator=generator)
        )
        inputs = celsius.unfold(0, self.window, 1)[:-1]  # (N, window): the months before each target
        targets = celsius[self.window :]
        # in time order, not shuffled: overlapping windows would otherwise put test months into training inputs
        val_start, test_start = len(targets) - 240, len(targets) - 120
        parts = {"train": slice(0, val_start), "val": slice(val_start, test_start), "test": slice(test_start, None)}
        train_x, train_y = inputs[parts["train"]], targets[parts["train"]]
        self.target_stats = (float(train_y.mean()), float(train_y.std()))
        self.input_mean, self.input_std = float(train_x.mean()), float(train_x.std())
        return {
            name: ((inputs[part] - self.input_mean) / self.input_std, targets[part]) for name, part in parts.items()
        }

    def serving_inputs(self) -> dict[str, Any]:
        """A server takes rows keyed by these names, in °C, and scales them as load_splits does."""
        self.setup()
        names = [f"t-{lag}" for lag in range(self.window, 0, -1)]
        scale = {"mean": [self.input_mean] * self.window, "std": [self.input_std] * self.window}
        return {"kind": "table", "features": names, **scale, "classes": None}
