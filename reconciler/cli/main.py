"""The `overseer` click group; each sub-command lives in its own module."""
from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from .common import Settings, global_options


class _LazyGroup(click.Group):
    """Sub-commands come from commands.WHERE and are imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .commands import WHERE  # noqa: PLC0415
        return sorted(set(super().list_commands(ctx)) | set(WHERE))

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None:
            from .commands import load  # noqa: PLC0415
            command = load(name)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    """Kept for callers of the old eager registration: commands now load on use."""


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
