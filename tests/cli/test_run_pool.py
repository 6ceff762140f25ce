"""`comfy-reality run` over a pool: repeated --server, --repeat, --sweep, the batch summary, and
every execution's final NDJSON line naming its server (never with credentials)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import invoke, save_image_prompt, start_server, unique, write_workflow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def second_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_server(tmp_path_factory.mktemp("second"))
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_repeat_spreads_over_the_pool_and_each_final_line_names_its_server(
    server_url: str, second_url: str, tmp_path: Path
) -> None:
    prompt = json.loads((REPO / "workflows" / "txt2img-basic.json").read_text(encoding="utf-8"))
    prompt["3"]["inputs"]["steps"] = 2
    workflow = write_workflow(tmp_path, "spread", prompt)
    with_login = second_url.replace("http://", "http://alice:s3cret@")
    result = invoke(
        "run", str(workflow), "--server", server_url, "--server", with_login, "--repeat", "4",
        "--sweep", "3.seed=random", "--no-journal", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    finals = result.executions()
    assert len(finals) == 4 and all(line["status"] == "completed" for line in finals)
    assert Counter(line["server_url"] for line in finals) == {server_url: 2, second_url: 2}
    assert len({line["prompt_id"] for line in finals}) == 4
    assert all(line["variant"].startswith("3.seed=random #") for line in finals)
    assert "s3cret" not in result.stdout and "alice" not in result.stdout
    batch = result.lines()[-1]
    assert batch["type"] == "batch" and batch["executions"] == 4
    assert sorted((row["server_url"], row["count"]) for row in batch["servers"]) == sorted(
        [(server_url, 2), (second_url, 2)]
    )
    assert batch["wall_seconds"] > 0 and batch["execution_seconds"] > 0


def test_sweeps_form_their_product(server_url: str, second_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "sweep", save_image_prompt(color=unique(), prefix="sweep"))
    result = invoke(
        "run", str(workflow), "--server", server_url, "--server", second_url,
        "--sweep", "1.width=8,16", "--sweep", "1.height=8,12,16", "--no-journal", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    variants = sorted(line["variant"] for line in result.executions())
    assert len(variants) == 6
    assert "1.width=16 1.height=12" in variants
    batch = result.lines()[-1]
    assert sum(row["images"] for row in batch["servers"]) == 6
    assert len(list(tmp_path.glob("sweep*.png"))) == 6


def test_a_bad_sweep_is_a_usage_error(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "bad", save_image_prompt(color=unique()))
    result = invoke("run", str(workflow), "--server", server_url, "--sweep", "1.width", "--no-journal")
    assert result.exit_code == 2
    assert "NODE.INPUT=V1,V2" in result.stderr


def test_one_server_prints_no_batch_line(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "single", save_image_prompt(color=unique()))
    result = invoke(
        "run", str(workflow), "--server", server_url, "--no-journal", "--output-dir", str(tmp_path)
    )
    assert result.exit_code == 0, result.stderr
    assert [line["type"] for line in result.lines()][-1] == "execution"
    assert result.executions()[0]["server_url"] == server_url


def test_config_servers_pool_and_a_name_pins_the_run(
    server_url: str, second_url: str, tmp_path: Path, isolated_home: Path
) -> None:
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[[servers]]\nurl = "{server_url}"\nname = "first"\n\n'
        f'[[servers]]\nurl = "{second_url}"\nname = "second"\nweight = 2\n',
        encoding="utf-8",
    )
    workflow = write_workflow(tmp_path, "pinned", save_image_prompt(color=unique(), prefix="pinned"))
    result = invoke(
        "run",
        str(workflow),
        "--server",
        "second",
        "--repeat",
        "3",
        "--no-journal",
        "--output-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.stderr
    assert {line["server_url"] for line in result.executions()} == {second_url}
    batch = result.lines()[-1]
    assert [(row["name"], row["count"]) for row in batch["servers"]] == [("second", 3)]
