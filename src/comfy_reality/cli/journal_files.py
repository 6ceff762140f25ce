"""Opening the journal file for a `comfy-reality journal …` command, shared by its subcommands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._common import CliError

if TYPE_CHECKING:
    from comfy_reality.journal import Journal


async def open_journal(path: Path | None, *, keep_days: float = 0) -> Journal:
    """Open the journal for a command; an unusable file is a usage error naming it."""
    from comfy_reality.journal import Journal, JournalError

    try:
        return await Journal.open(path, keep_days=keep_days)
    except JournalError as exc:
        raise CliError(str(exc)) from None


def existing_path(path: Path | None) -> Path | None:
    """An explicit --path must name a journal: a typo would otherwise create an empty one."""
    if path is not None and not path.is_file():
        raise CliError(f"no journal at {path}", hint="leave out --path to use the app's journal")
    return path


path_option = click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Journal file to use (default: journal.sqlite3 in the app's data directory).",
)


__all__ = ["existing_path", "open_journal", "path_option"]
