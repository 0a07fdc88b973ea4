"""The `overseer` command line (click). `main` is the console-script entry."""
from .main import main

__all__ = ["main"]
