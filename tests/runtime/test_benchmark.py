"""The benchmark suite runs, writes its JSON, and its generated messages match the recorded shapes.

The suite lives in the repository's ``benchmarks/`` (not installed); ``python -m comfy_reality.runtime.benchmark``
finds and runs it from a source checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from benchmarks import engine
from benchmarks import runtime as benchmark
from comfy_reality.runtime import TaskStatus
from comfy_reality.runtime import benchmark as entry


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_quick_manager_and_client_sections_write_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    code = benchmark.main(["--only", "manager,client", "--quick", "--json-out", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["sections"] == ["manager", "client"]
    names = [(row["section"], row["name"]) for row in data["rows"]]
    assert [n for s, n in names if s == "manager"] == [
        "events/s, 0 subscribers",
        "events/s, 1 subscriber",
        "events/s, 10 subscribers",
    ]
    for row in data["rows"]:
        assert row["value"] > 0 and row["baseline"] > 0 and row["baseline_name"], row
    assert "comfy-reality benchmark" in capsys.readouterr().out


def test_unknown_section_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["--only", "manager,nope"])
    assert exit_info.value.code == 2


def test_generated_frames_fold_like_the_recorded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded, recorded_id, recorded_prompt, source = engine.progress_messages()
    assert "11_progress_rate" in source
    monkeypatch.setattr(engine, "_repo_fixture", lambda: None)
    frames, prompt_id, prompt, source = engine.progress_messages(steps=50)
    assert source.startswith("generated")
    recorded_types = {json.loads(f)["type"] for f in recorded}
    assert {json.loads(f)["type"] for f in frames} <= recorded_types
    for runs in ([(prompt_id, frames)], [(recorded_id, recorded)]):
        from comfy_reality.runtime.runtime import ComfyUIAsyncRuntime

        seen: list[ComfyUIAsyncRuntime] = []
        real_init = ComfyUIAsyncRuntime.__init__

        def spy(
            self: ComfyUIAsyncRuntime,
            *args: object,
            real_init: Any = real_init,
            seen: list[ComfyUIAsyncRuntime] = seen,
            **kwargs: object,
        ) -> None:
            real_init(self, *args, **kwargs)
            seen.append(self)

        monkeypatch.setattr(ComfyUIAsyncRuntime, "__init__", spy)
        _, events = engine._fold_frames(runs, prompt if runs[0][1] is frames else recorded_prompt)
        monkeypatch.setattr(ComfyUIAsyncRuntime, "__init__", real_init)
        [execution] = seen[0].executions.values()
        node = execution.node_task("2")
        assert node is not None and node.status is TaskStatus.COMPLETED and node.progress == 1.0
        assert events > 10


def test_prompts_for_the_server_sections_are_valid_api_prompts() -> None:
    from comfy_reality.workflows import packaged_object_info
    from comfy_reality.workflows.validate import validate_prompt

    info = packaged_object_info()
    for prompt in (benchmark.trivial_prompt(3), benchmark.chain_prompt(100)):
        report = validate_prompt(prompt, info)
        assert report.ok, report.messages()
    chain = benchmark.chain_prompt(500)
    assert len(chain) == 500
    assert [chain[str(i)]["inputs"]["image"] for i in (2, 499)] == [["1", 0], ["498", 0]]
    assert chain["500"]["inputs"]["images"] == ["499", 0]


def test_tui_section_says_not_available_without_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    # A module set to None in sys.modules makes its import raise ImportError, as a missing Textual would.
    monkeypatch.setitem(sys.modules, "benchmarks.tui", None)
    report = benchmark.Report(quick=True)
    benchmark.bench_tui(report, quick=True)
    [row] = report.rows
    assert row.section == "tui" and row.value is None and row.note is not None and "not available" in row.note


def test_the_design_entry_point_runs_the_suite_of_the_checkout() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "comfy_reality.runtime.benchmark", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout and "--quick" in done.stdout


def test_the_entry_point_outside_a_checkout_says_where_the_benchmarks_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    installed = tmp_path / "site-packages" / "comfy_reality" / "runtime" / "benchmark.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("", encoding="utf-8")
    assert entry.source_root(installed) is None
    assert entry.main(["--quick"], package_file=installed) == 2
    assert "benchmarks live in the source repository" in capsys.readouterr().err


def test_the_instruction_figure_is_the_difference_of_two_runs_per_prompt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(45 prompts - 5 prompts) / 40 for each client; the row holds both, the ratio and pass/miss."""
    from benchmarks import e2e_instructions

    counts = {
        ("bare", 5): 1_000,
        ("bare", 45): 1_000 + 40 * 6_000_000,
        ("ours", 5): 9_999,
        ("ours", 45): 9_999 + 40 * 6_600_000,
    }
    monkeypatch.setattr(e2e_instructions.shutil, "which", lambda _name: "/usr/bin/valgrind")
    monkeypatch.setattr(
        e2e_instructions, "_instructions", lambda kind, _url, count, _work: counts[kind, count]
    )
    report = benchmark.Report(quick=True)
    e2e_instructions.bench_e2e_instructions(report, "http://127.0.0.1:9")
    (row,) = report.rows
    assert (row.value, row.baseline) == (6.6, 6.0)
    assert row.ratio == pytest.approx(1.1) and row.ok is False and row.target == "overhead <= 1.05x"
    assert "e2e-instructions" in benchmark.OPT_IN and "e2e-instructions" not in benchmark.SECTIONS
