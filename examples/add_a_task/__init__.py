"""Worked example of docs/add_a_task.md."""
