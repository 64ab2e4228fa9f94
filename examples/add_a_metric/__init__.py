"""Worked example of docs/add_a_metric.md."""
