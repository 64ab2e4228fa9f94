"""Set the number of CPU threads torch uses: on a shared or small CPU, fewer threads can be much faster."""

import lightning as L
import torch


class CPUThreads(L.Callback):
    """Calls torch.set_num_threads(num_threads) when the run starts; oversubscribed cores make extra threads wait."""

    def __init__(self, num_threads: int = 1) -> None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = num_threads
        self._previous: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._previous = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Give the process its thread count back (matters when several runs share one process, as in tests)."""
        if self._previous is not None:
            torch.set_num_threads(self._previous)
