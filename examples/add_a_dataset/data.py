"""Two interleaving half-moons from scikit-learn, the worked example of docs/add_a_dataset.md."""

import torch

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.splits import stratified_split
from blueprint.errors import UserError


class TwoMoonsDataModule(InMemoryDataModule):
    """Points (x, y) labelled by moon; generated, so it runs offline and the same `seed` gives the same data."""

    input_shape = (2,)  # one sample's shape: nets check it before the first step
    num_classes = 2  # ClassificationTask checks the net's outputs against it

    def __init__(
        self,
        num_samples: int = 2000,
        noise: float = 0.2,
        val_size: int = 200,
        test_size: int = 200,
        batch_size: int = 64,
        eval_batch_size: int = 512,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_batch_size=eval_batch_size, seed=seed)
        if noise < 0:
            raise UserError(f"data.noise must be >= 0, got {noise}")
        self.num_samples = num_samples
        self.noise = noise
        self.val_size = val_size
        self.test_size = test_size

    def load_splits(self) -> dict[str, Split]:
        """Every split as (inputs, targets) tensors; InMemoryDataModule serves them through torch DataLoaders."""
        from sklearn.datasets import make_moons

        points, labels = make_moons(self.num_samples, noise=self.noise, random_state=self.seed)
        inputs = torch.from_numpy(points).float()
        targets = torch.from_numpy(labels).long()
        parts = stratified_split(labels, {"test": self.test_size, "val": self.val_size}, self.seed)
        return {name: (inputs[idx], targets[idx]) for name, idx in parts.items()}
