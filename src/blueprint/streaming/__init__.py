"""Data larger than memory: `blueprint stream` writes an experiment's data in LitData's chunk format, and
StreamingDataModule (configs/presets/streaming.yaml) trains from it. Needs the `stream` dependency group (litdata)."""

from blueprint.streaming.datamodule import StreamingDataModule

__all__ = ["StreamingDataModule"]
