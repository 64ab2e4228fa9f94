"""On a machine without a GPU, "is CUDA available?" stops probing NVML, so optimizer steps stop paying for it."""

import inspect
import os

import pytest
import torch

from blueprint.cli.upstream_workarounds import ALLOWED_PRIVATE_NAMES, NVML_CHECK, remember_no_gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_no_gpu_answer_is_cached_and_steps_stop_probing(monkeypatch) -> None:
    if not torch.backends.cuda.is_built():
        assert remember_no_gpu() is False  # a CPU-only torch never probes: nothing to cache
        return
    monkeypatch.setenv(NVML_CHECK, "1")  # as importing lightning leaves it
    assert remember_no_gpu() is True
    assert os.environ[NVML_CHECK] == "0"

    def probe() -> int:
        raise AssertionError("NVML probed after the switch")

    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", probe)
    layer = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.ones(2, 3)).sum().backward()
    optimizer.step()  # Adam's step asks torch.accelerator whether CUDA is there
    assert torch.cuda.is_available() is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_machines_with_a_gpu_are_left_alone() -> None:
    assert remember_no_gpu() is False
    assert torch.cuda.device_count() > 0


def test_lightning_still_turns_the_nvml_check_on() -> None:
    """remember_no_gpu exists because importing lightning sets this; when that line goes, so can the workaround."""
    import lightning.fabric

    assert f'os.environ["{NVML_CHECK}"] = "1"' in inspect.getsource(lightning.fabric)


def test_lightning_cli_still_records_the_task_class_in_hparams(tmp_path) -> None:
    """The checks that refuse another task's checkpoint read this key: a rename must fail here."""
    from blueprint.cli.command import cli_main
    from tests.conftest import config

    cli = cli_main(
        ["-c", config("tabular_mlp_binary.yaml"), "--trainer.logger.init_args.save_dir", str(tmp_path)], run=False
    )
    assert cli.model.hparams["_class_path"] == "blueprint.tasks.BinaryClassificationTask"


def test_every_allowed_private_name_says_why() -> None:
    assert all(reason.strip() for reason in ALLOWED_PRIVATE_NAMES.values())


def test_litdata_still_has_the_sigint_handler_the_stream_writer_replaces() -> None:
    """streaming/writer.py replaces DataProcessor._signal_handler (it exits 0 on Ctrl+C); a rename must fail here."""
    pytest.importorskip("litdata")
    from litdata.processing.data_processor import DataProcessor

    assert callable(getattr(DataProcessor, "_signal_handler", None))


def test_litserve_still_queues_through_a_manager_that_the_server_replaces() -> None:
    """serving/queues.py swaps the Manager queues LitServer makes in `_init_manager` for direct ones, which LitServer
    then hands to its workers and HTTP processes: a rename fails here, and so do LitServe queues that are direct
    already (then the file can go)."""
    pytest.importorskip("litserve")
    from multiprocessing.managers import BaseProxy
    from multiprocessing.queues import Queue

    import litserve as ls

    from blueprint.serving.api import CheckpointAPI
    from blueprint.serving.queues import AnswerPipes
    from blueprint.serving.server import build_server

    ours, stock = build_server("never-loaded.ckpt"), ls.LitServer(CheckpointAPI("never-loaded.ckpt"), accelerator="cpu")
    managers = [ours._init_manager(1), stock._init_manager(1)]
    try:
        assert all(isinstance(queue, Queue) for queue in ours.litapi_request_queues.values())
        assert isinstance(ours._transport, AnswerPipes)
        assert all(isinstance(queue, BaseProxy) for queue in stock.litapi_request_queues.values())
    finally:
        for manager in managers:
            manager.shutdown()
    for reader in (ls.LitServer.launch_inference_worker, ls.LitServer.lifespan):  # where the transport is used
        assert "self._transport" in inspect.getsource(reader), reader.__name__
