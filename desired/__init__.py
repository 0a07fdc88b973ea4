"""Overseer package."""
from . import lean_pydantic  # noqa: F401  (before any model is built: see its docstring)
