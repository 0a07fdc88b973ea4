"""The "Commands" section of docs/reference.md, from the commands themselves.

One row per sub-command (its usage and first help line) and one per option
of its own (the shared etcd options are in etcd-production.md and in
`overseer --help`). reconciler/demo/docref.py appends it, so the reference
cannot drift from the CLI.
"""
from __future__ import annotations

import click

from .commands import WHERE, load


def _usage(command: click.Command) -> str:
    args = " ".join(p.human_readable_name if p.required else f"[{p.human_readable_name}]"
                    for p in command.params if isinstance(p, click.Argument))
    return f"overseer {command.name}" + (f" {args}" if args else "")


def _option(param: click.Option) -> str:
    flag = ", ".join(param.opts)
    return flag if param.is_flag else f"{flag} {param.metavar or param.type.name.upper().replace(' RANGE', '')}"


def commands_section() -> list[str]:
    lines = ["## Commands", "",
             "`overseer --help` lists them with every environment variable the CLI reads; "
             "`overseer COMMAND --help` gives each one's options. Usage errors exit 2, a refused "
             "or failed request 1, an unreachable etcd 3.", "",
             "| command | what it does | its own options |", "|---|---|---|"]
    for name in sorted(WHERE):
        command = load(name)
        if command is None:
            continue
        summary = (command.help or "").strip().splitlines()[0] if command.help else ""
        if isinstance(command, click.Group):
            subs = ", ".join(f"`{sub}`" for sub in sorted(command.commands))
            lines.append(f"| `overseer {name} ...` | {summary} (sub-commands {subs}) | see each sub-command's `--help` |")
            continue
        options = [_option(p) for p in command.params
                   if isinstance(p, click.Option) and p.expose_value and p.name != "help"]
        row = f"| `{_usage(command)}` | {_cell(summary)} | {', '.join(f'`{_cell(o)}`' for o in options) or 'none'} |"
        lines.append(row)
    return lines + [""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")   # a bare | would end the table cell
