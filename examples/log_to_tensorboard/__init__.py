"""Worked example of docs/log_to_tensorboard.md."""
