"""The execution journal: what survives restarts (SQLite, written off the event loop).

journal, warning = await Journal.open_or_disabled()      # never raises; None when unusable
if journal:
    journal.attach(runtime)                               # record every execution from now on
    report = await journal.reconcile(runtime)             # inside runtime.session(): recover
    entries = await journal.list_executions(status="failed", text="cat", limit=50)
    ...
    await journal.close()
"""

from ..errors import JournalError
from ..runtime.models import output_files_from
from .journal import Journal, JournalStats, ReconcileReport, queue_prompt_ids
from .server_history import server_history_result
from .store import SCHEMA_VERSION, JournalEntry, JournalNode, JournalStore

__all__ = [
    "SCHEMA_VERSION",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalNode",
    "JournalStats",
    "JournalStore",
    "ReconcileReport",
    "output_files_from",
    "queue_prompt_ids",
    "server_history_result",
]
