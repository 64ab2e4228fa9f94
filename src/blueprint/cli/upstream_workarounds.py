"""Where blueprint works around upstream defaults, and the private names it may read (tests/test_private_names.py)."""

import os

import torch

ALLOWED_PRIVATE_NAMES = {
    # Read, never written: LightningCLI stores the task's class under this key in a checkpoint's hyper_parameters.
    # tests/test_upstream_workarounds.py fails when Lightning stops writing it.
    "_class_path": "cli/preflight.py and checkpointing/loading.py refuse a checkpoint of another task by name",
    # streaming/writer.py (one line each, so `rename.py --drop stream` removes them with the room):
    "_signal_handler": "LitData's SIGINT handler exits 0, so a stream write stopped by Ctrl+C looked successful; replaced for one optimize call (remove when LitData exits non-zero; tests/test_upstream_workarounds.py fails on a rename)",  # noqa: E501
    "_instances": "tqdm's open bars, read with a default: an interrupted optimize leaves them drawing after the error line",  # noqa: E501
    # checkpointing/model_checkpoint.py: Lightning 2.6 stopped writing last.ckpt after epochs that do not beat the best
    "_should_save_on_train_epoch_end": "ModelCheckpoint's own choice of save point, so last.ckpt is written where it saves (remove with model_checkpoint.py)",  # noqa: E501
    "_should_skip_saving_checkpoint": "ModelCheckpoint's own skip rule: sanity check, fast_dev_run, a step saved already (remove with model_checkpoint.py)",  # noqa: E501
    "_save_last_checkpoint": "ModelCheckpoint's own last.ckpt writer: its name, version and removal rules (remove with model_checkpoint.py)",  # noqa: E501
    "_monitor_candidates": "the metrics ModelCheckpoint names last.ckpt with (remove with model_checkpoint.py)",
    # serving/queues.py: LitServe 0.2 queues requests and answers through a Manager process (LitServe#751)
    "_init_manager": "where LitServer makes its Manager queues; DirectQueueServer replaces them right after (remove with serving/queues.py)",  # noqa: E501
    "_transport": "LitServer's answer transport, set in _init_manager and handed to its workers (remove with serving/queues.py)",  # noqa: E501
    "_exit": "Python's documented os._exit: an interrupted writer process ends without running cleanup",
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
