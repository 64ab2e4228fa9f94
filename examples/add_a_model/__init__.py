"""Worked example of docs/add_a_model.md."""
