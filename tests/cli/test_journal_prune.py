"""`comfy-reality journal prune` and the journal_keep_days bound applied when the journal opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comfy_reality import paths
from comfy_reality.cli.journal import format_age, human_size, parse_duration
from comfy_reality.journal import JournalStore
from comfy_reality.journal.store import ExecutionSnapshot, NodeSnapshot

from .conftest import invoke, save_image_prompt, unique, write_workflow

SERVER = "http://127.0.0.1:9"


def record(
    path: Path, name: str, *, days: float, status: str = "completed", padding: int = 0, server: str = SERVER
) -> None:
    """Write one execution with two nodes straight into a journal file, created ``days`` ago."""
    created = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    final = status in ("completed", "failed", "cancelled")
    store = JournalStore(path)
    try:
        store.write_batch(
            [
                ExecutionSnapshot(
                    id=f"id-{name}",
                    prompt_id=f"prompt-{name}",
                    server_url=server,
                    client_id="c",
                    workflow_id=name,
                    name=name,
                    number=None,
                    status=status,
                    status_detail=None,
                    retry_of=None,
                    progress=0.0,
                    prompt_json=json.dumps({"pad": "x" * padding}),
                    outputs_json="{}",
                    output_files_json="[]",
                    error_json=None,
                    node_errors_json="{}",
                    created_at=created,
                    started_at=created,
                    completed_at=created if final else None,
                )
            ],
            [
                NodeSnapshot(
                    execution_id=f"id-{name}",
                    node_id=node,
                    class_type="EmptyImage",
                    name=None,
                    status=status,
                    cached=False,
                    progress=0.0,
                    value=None,
                    max=None,
                    started_at=None,
                    completed_at=None,
                    error=None,
                    error_type=None,
                    status_detail=None,
                    traceback_json="[]",
                    outputs_json="{}",
                )
                for node in ("1", "2")
            ],
        )
    finally:
        store.close()


def names(*args: str) -> list[str]:
    result = invoke("journal", "--json", "--limit", "1000", *args)
    assert result.exit_code == 0, result.stderr
    return sorted(r["name"] for r in json.loads(result.stdout)["executions"])


def write_config(home: Path, text: str) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def journal_file(isolated_home: Path) -> Path:
    write_config(isolated_home, "journal_keep_days = 0\n")  # no automatic bound unless a test sets one
    path = paths.journal_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_parse_duration_accepts_units_and_explains_mistakes() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration(" 1d12H ") == timedelta(days=1, hours=12)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="no unit; write 30d for days"):
        parse_duration("30")
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("30 days")
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("d30")
    with pytest.raises(ValueError, match="empty"):
        parse_duration("")
    with pytest.raises(ValueError, match="above zero"):
        parse_duration("0d")
    assert format_age(timedelta(days=1, hours=12)) == "1d12h" and format_age(timedelta(minutes=90)) == "1h30m"
    assert human_size(999) == "999 B" and human_size(1_234_567) == "1.2 MB"


def test_older_than_forgets_old_finished_runs_only(journal_file: Path) -> None:
    record(journal_file, "ancient-ok", days=40)
    record(journal_file, "ancient-failed", days=35, status="failed")
    record(journal_file, "ancient-running", days=60, status="running")
    record(journal_file, "recent", days=2)

    result = invoke("journal", "prune", "--older-than", "30d")
    assert result.exit_code == 0, result.stderr
    assert "Forgot 2 finished executions (4 node rows) created more than 30d ago." in result.stdout
    assert f"Journal {journal_file}: " in result.stdout and " -> " in result.stdout
    assert names() == ["ancient-running", "recent"]

    again = invoke("journal", "prune", "--older-than", "30d")
    assert again.exit_code == 0
    assert "Nothing to forget: no finished execution created more than 30d ago." in again.stdout


def test_dry_run_changes_nothing_and_json_reports_sizes(journal_file: Path) -> None:
    record(journal_file, "old", days=100)
    record(journal_file, "new", days=1)
    dry = invoke("journal", "prune", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert (
        "Would forget 1 finished execution (2 node rows) created more than 90d ago; nothing changed"
        in dry.stdout
    )
    assert names() == ["new", "old"]

    as_json = invoke("journal", "prune", "--older-than", "90d", "--dry-run", "--json")
    report = json.loads(as_json.stdout)
    assert report["dry_run"] is True and report["removed"] == {"executions": 1, "nodes": 2}
    assert report["size_before"] == report["size_after"] > 0 and report["compacted"] is False
    assert report["path"] == str(journal_file)


def test_keep_and_both_bounds(journal_file: Path) -> None:
    for day in range(1, 7):
        record(journal_file, f"run-{day}", days=day)
    record(journal_file, "still-queued", days=300, status="pending")
    result = invoke("journal", "prune", "--keep", "4", "--json")
    assert json.loads(result.stdout)["removed"] == {"executions": 2, "nodes": 4}
    assert names() == ["run-1", "run-2", "run-3", "run-4", "still-queued"]
    # Either bound removes: --keep 3 alone would leave run-3; --older-than 2d12h takes it.
    result = invoke("journal", "prune", "--keep", "3", "--older-than", "2d12h")
    assert (
        "Forgot 2 finished executions (4 node rows) created more than 2d12h ago or beyond the newest 3."
        in result.stdout
    )
    assert names() == ["run-1", "run-2", "still-queued"]
    assert "Forgot 2" in invoke("journal", "prune", "--keep", "0").stdout
    assert names() == ["still-queued"]


def test_compaction_gives_space_back(journal_file: Path) -> None:
    for i in range(30):
        record(journal_file, f"big-{i}", days=50, padding=40_000)
    record(journal_file, "small", days=1)
    report = json.loads(invoke("journal", "prune", "--older-than", "30d", "--json").stdout)
    assert report["removed"]["executions"] == 30 and report["compacted"] is True
    assert report["size_before"] > 30 * 40_000 and report["size_after"] < report["size_before"] / 10


def test_without_bounds_prune_uses_the_config(journal_file: Path, isolated_home: Path) -> None:
    record(journal_file, "month-old", days=31)
    record(journal_file, "week-old", days=7)
    refused = invoke("journal", "prune")
    assert refused.exit_code == 2
    assert (
        "nothing to prune by: journal_keep_days is 0" in refused.stderr and "--older-than" in refused.stderr
    )
    write_config(isolated_home, "journal_keep_days = 10\n")
    result = invoke("journal", "prune")
    assert result.exit_code == 0
    assert "Forgot 1 finished execution (2 node rows) created more than 10d ago." in result.stdout
    assert names() == ["week-old"]


def test_the_configured_bound_applies_when_the_journal_opens(journal_file: Path, isolated_home: Path) -> None:
    record(journal_file, "ancient", days=120)
    record(journal_file, "ancient-unfinished", days=120, status="running")
    record(journal_file, "fresh", days=3)
    assert names() == ["ancient", "ancient-unfinished", "fresh"]  # journal_keep_days = 0: all kept
    write_config(isolated_home, "journal_keep_days = 90\n")
    # A file named with --path is read as it is, not pruned.
    assert names("--path", str(journal_file)) == ["ancient", "ancient-unfinished", "fresh"]
    assert names() == ["ancient-unfinished", "fresh"]


def test_default_config_keeps_ninety_days(journal_file: Path, isolated_home: Path) -> None:
    (isolated_home / "config" / "config.toml").unlink()
    record(journal_file, "a-quarter-ago", days=91)
    record(journal_file, "two-months-ago", days=60)
    assert names() == ["two-months-ago"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "30"], "'30' has no unit; write 30d for days"),
        (["--older-than", "thirty days"], "is not a duration; write it as a number and a unit"),
        (["--older-than", "0h"], "no time at all"),
        (["--keep", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_bad_bounds_are_usage_errors(journal_file: Path, args: list[str], message: str) -> None:
    result = invoke("journal", "prune", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_path_must_exist_and_listing_options_stay_with_the_listing(
    journal_file: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.sqlite3"
    result = invoke("journal", "prune", "--keep", "1", "--path", str(missing))
    assert result.exit_code == 2 and f"no journal at {missing}" in result.stderr
    assert not missing.exists()
    # --path before the subcommand is passed on.
    record(journal_file, "one", days=1)
    record(journal_file, "two", days=2)
    passed = invoke("journal", "--path", str(journal_file), "prune", "--keep", "1", "--json")
    assert passed.exit_code == 0 and json.loads(passed.stdout)["removed"]["executions"] == 1
    misplaced = invoke("journal", "--status", "failed", "--json", "prune")
    assert misplaced.exit_code == 2
    assert (
        "--status, --json are for the listing; put options of `journal prune` after its name"
        in misplaced.stderr
    )


def test_a_corrupt_journal_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database at all" * 200)
    result = invoke("journal", "prune", "--keep", "1", "--path", str(broken))
    assert result.exit_code == 2 and str(broken) in result.stderr and "Move it aside" in result.stderr


def test_run_applies_the_bound_when_it_opens_the_journal(
    server_url: str, journal_file: Path, isolated_home: Path, tmp_path: Path
) -> None:
    write_config(isolated_home, "journal_keep_days = 30\n")
    record(journal_file, "last-quarter", days=95)
    record(journal_file, "last-week", days=7)
    workflow = write_workflow(tmp_path, "bounded", save_image_prompt(unique()))
    result = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), str(workflow))
    assert result.exit_code == 0, result.stderr
    assert names("--path", str(journal_file)) == ["bounded", "last-week"]
