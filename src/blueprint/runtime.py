"""Settings for machines without a GPU: faster small models, and GPU-only options turned off with a warning."""

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.utilities.rank_zero import rank_zero_warn


def remember_no_gpu() -> bool:
    """Cache "no CUDA device" so optimizer steps stop re-asking; returns True when the answer was cached.

    Importing lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, so with a CUDA build of torch on a machine without
    a GPU every `torch.cuda.is_available()` tries to load NVML again (~55 us) and torch does not cache a zero
    before CUDA is initialised. Each optimizer step asks at least once: ~0.4 ms of a 2 ms MLP step on a CPU.
    Machines with a GPU are left untouched.
    """
    if not torch.backends.cuda.is_built() or torch.cuda.is_initialized() or torch.cuda.device_count() > 0:
        return False
    if not hasattr(torch.cuda, "_cached_device_count"):  # a torch without the cache: nothing to do
        return False
    torch.cuda._cached_device_count = 0
    return True


def drop_sync_batchnorm_on_cpu(trainer: L.Trainer) -> bool:
    """SyncBatchNorm runs on GPUs only; on CPU (the ddp preset's test run) every process keeps its own statistics.

    Without this, `trainer.sync_batchnorm: true` on CPU fails at the first forward pass. Returns True when dropped.
    """
    if not isinstance(trainer.accelerator, CPUAccelerator) or getattr(trainer.strategy, "_layer_sync", None) is None:
        return False
    rank_zero_warn(
        "trainer.sync_batchnorm is off on CPU (SyncBatchNorm runs on GPUs only): each process keeps its own "
        "BatchNorm statistics, so ranks may validate slightly different models"
    )
    trainer.strategy._layer_sync = None  # type: ignore[attr-defined]  # set by Lightning for parallel strategies
    return True
