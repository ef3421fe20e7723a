"""Fixtures of the source tests: the image makers the data tests use (`tests/data/conftest.py`)."""

from tests.data.conftest import make_bomb_png, make_colourful  # noqa: F401 -- pytest fixtures, shared
