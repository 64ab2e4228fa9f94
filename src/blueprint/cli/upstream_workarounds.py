"""Where blueprint leans on a private Lightning or torch name, and why; tests/test_private_names.py bans all others."""

import torch

ALLOWED_PRIVATE_NAMES = {
    # Remove when torch caches a zero CUDA device count under PYTORCH_NVML_BASED_CUDA_CHECK=1 (uncached in torch
    # 2.15). tests/test_upstream_workarounds.py fails when torch renames it.
    "_cached_device_count": "remember_no_gpu below: 11-25% of mnist_mlp's epoch on a CPU",
    # Read, never written: LightningCLI stores the task's class under this key in a checkpoint's hyper_parameters.
    # tests/test_upstream_workarounds.py fails when Lightning stops writing it.
    "_class_path": "cli/preflight.py and checkpointing/loading.py refuse a checkpoint of another task by name",
}


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
