"""Where blueprint works around upstream defaults, and the private names it may read (tests/test_private_names.py)."""

import os

import torch

ALLOWED_PRIVATE_NAMES = {
    # Read, never written: LightningCLI stores the task's class under this key in a checkpoint's hyper_parameters.
    # tests/test_upstream_workarounds.py fails when Lightning stops writing it.
    "_class_path": "cli/preflight.py and checkpointing/loading.py refuse a checkpoint of another task by name",
    # Replaced for one litdata.optimize call: LitData's SIGINT handler exits the process with status 0, so an
    # interrupted `blueprint stream` looked successful. Remove when LitData exits non-zero on SIGINT;
    # tests/test_upstream_workarounds.py fails when LitData renames it.
    "_signal_handler": "streaming/writer.py makes Ctrl+C while writing a stream exit 130, leaving no partial folder",
    # Read with a default (a rename only leaves a progress bar drawn after the error line): tqdm's open bars.
    "_instances": "streaming/writer.py closes the bars an interrupted litdata.optimize leaves open",
    # Python's documented os._exit, not a private name: a forked writer process ends without running cleanup.
    "_exit": "streaming/writer.py ends an interrupted writer process at once",
}
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"  # torch's documented switch; lightning.fabric sets it to "1" on import


def remember_no_gpu() -> bool:
    """On a machine without a GPU, ask CUDA (cached) instead of NVML (not cached); True when switched.

    Importing lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1 (so a parent process can fork workers without
    initializing CUDA), and torch then probes NVML on every `torch.cuda.is_available()`: ~77 us against ~1.4 us,
    asked at least once per optimizer step. With no GPU there is nothing to keep fork-safe, so switch it off.
    Machines with a GPU, and CPU-only builds of torch, are untouched.
    """
    if not torch.backends.cuda.is_built() or torch.cuda.is_initialized() or torch.cuda.device_count() > 0:
        return False
    os.environ[NVML_CHECK] = "0"
    return True
