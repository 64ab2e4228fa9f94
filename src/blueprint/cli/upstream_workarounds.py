"""The one patch of a private torch internal that blueprint keeps on by default, because it pays for itself.

Every other private Lightning/torch name is banned by tests/test_private_names.py; this module is its only entry.
"""

import torch

# Remove when: torch caches a zero CUDA device count under PYTORCH_NVML_BASED_CUDA_CHECK=1 (still uncached in
# torch 2.15). tests/test_upstream_workarounds.py fails when torch renames `_cached_device_count`.
PRIVATE_NAMES = ("_cached_device_count",)


def remember_no_gpu() -> bool:
    """Cache "no CUDA device" so optimizer steps stop re-asking NVML; returns True when the answer was cached.

    Importing lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1, so with a CUDA build of torch on a machine without
    a GPU every `torch.cuda.is_available()` loads NVML again (~55 us), and each optimizer step asks at least once:
    11-25% of mnist_mlp's epoch on a 2-core CPU (measured, see docs/performance.md). Machines with a GPU are untouched.
    """
    if not torch.backends.cuda.is_built() or torch.cuda.is_initialized() or torch.cuda.device_count() > 0:
        return False
    if not hasattr(torch.cuda, "_cached_device_count"):  # renamed upstream: the test fails, the run goes on
        return False
    torch.cuda._cached_device_count = 0
    return True
