"""Worked examples of the guides in docs/; each runs from the repository root with `uv run blueprint fit -c ...`."""
