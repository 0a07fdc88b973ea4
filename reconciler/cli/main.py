"""The `overseer` click group; each sub-command lives in its own module.

A mistyped command is a usage error (exit 2) naming the closest commands
(difflib); `--help` ends with every environment variable the CLI reads.
"""
from __future__ import annotations

import difflib
import logging
import os
import sys
import traceback

import click

from .common import Settings, global_options
from .environment import epilog


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

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint} (overseer --help lists them)", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=epilog())
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
