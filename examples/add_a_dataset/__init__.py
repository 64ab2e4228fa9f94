"""Worked example of docs/add_a_dataset.md."""
