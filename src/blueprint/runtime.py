"""Process-wide settings that make small models train faster on machines without a GPU."""

import torch


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
