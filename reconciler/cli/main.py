"""The `overseer` click group; each sub-command lives in its own module."""
from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from .common import Settings, global_options


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@global_options
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Overseer: high-availability controller for bare servers."""
    ctx.ensure_object(Settings)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _register() -> None:
    # Imported here so each module can import `cli` helpers without cycles.
    import importlib

    importlib.import_module(f"{__package__}.commands")


def main(argv=None) -> None:
    _register()
    try:
        cli.main(args=argv, prog_name="overseer", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the one place a surprise becomes a line, not a traceback
        if os.environ.get("OVERSEER_DEBUG"):
            traceback.print_exc()
        click.echo(f"overseer: internal error: {type(exc).__name__}: {exc}"
                   " (set OVERSEER_DEBUG=1 for the traceback)", err=True)
        sys.exit(2)
