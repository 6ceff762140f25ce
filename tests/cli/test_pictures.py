"""Pictures from the CLI: run --preview-method/--show, and comfy-reality show."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from rich.console import Console

from comfy_reality.cli.show import Picture, draw
from comfy_reality.server.pictures import png_bytes, render
from comfy_reality.server.values import ImageValue

from .conftest import invoke, save_image_prompt, unique, write_workflow


def test_run_sends_the_preview_method_and_show_draws_nothing_into_a_pipe(
    server_url: str, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique(), prefix="cli_pictures"))
    out = tmp_path / "out"
    result = invoke(
        "run",
        "--server",
        server_url,
        "--output-dir",
        str(out),
        "--preview-method",
        "taesd",
        "--show",
        str(workflow),
    )
    assert result.exit_code == 0, result.stderr
    [execution] = result.executions()
    entry = httpx.get(f"{server_url}/history/{execution['prompt_id']}").json()[execution["prompt_id"]]
    assert entry["prompt"][3]["preview_method"] == "taesd"
    # stdout is NDJSON only: no picture drawn into the pipe.
    assert "▀" not in result.stdout and "\x1b_G" not in result.stdout
    for line in result.stdout.splitlines():
        json.loads(line)


def test_run_default_leaves_the_method_to_the_server(server_url: str, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique(), prefix="cli_pictures"))
    result = invoke(
        "run",
        "--server",
        server_url,
        "--output-dir",
        str(tmp_path),
        "--preview-method",
        "default",
        str(workflow),
    )
    assert result.exit_code == 0, result.stderr
    [execution] = result.executions()
    entry = httpx.get(f"{server_url}/history/{execution['prompt_id']}").json()[execution["prompt_id"]]
    assert "preview_method" not in entry["prompt"][3]


def test_draw_in_half_blocks_with_the_pictures_colours() -> None:
    data = png_bytes(render(ImageValue(64, 32, color=0x3366CC)))
    console = Console(record=True, width=60, color_system="truecolor", force_terminal=True)
    assert (
        draw([Picture("blue.png", data), Picture("junk.bin", b"not an image")], "halfblock", console=console)
        == 1
    )
    text = console.export_text(clear=False)
    assert "blue.png  64×32" in text and "junk.bin  (not an image)" in text
    # 64x32 pixels in 10x20-pixel cells (no terminal to ask): 8 columns (the minimum) by 2 rows.
    rows = [line for line in text.splitlines() if "▀" in line]
    assert [line.count("▀") for line in rows] == [8, 8]
    assert "51;102;204" in console.export_text(styles=True)  # 0x33, 0x66, 0xCC as truecolour


def test_show_lists_files_and_prompt_outputs_as_json(server_url: str, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(render(ImageValue(20, 10, pattern="gradient", seed=3))))
    result = invoke("show", "--json", str(image))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"image": str(image), "bytes": image.stat().st_size, "size": [20, 10]}
    workflow = write_workflow(tmp_path, "ok", save_image_prompt(unique(), prefix="cli_show"))
    run = invoke("run", "--server", server_url, "--output-dir", str(tmp_path / "out"), str(workflow))
    [execution] = run.executions()
    listed = invoke("show", "--server", server_url, "--json", execution["prompt_id"])
    assert listed.exit_code == 0, listed.stderr
    [line] = [json.loads(x) for x in listed.stdout.splitlines()]
    assert (
        line["image"].startswith("cli_show_")
        and "(node 2, output)" in line["image"]
        and line["size"] == [8, 8]
    )
    # Not a terminal: nothing drawn, and it says so.
    piped = invoke("show", str(image))
    assert piped.exit_code == 0 and "nothing drawn" in piped.stderr and "▀" not in piped.stdout
    missing = invoke("show", "--server", server_url, "--json", "no-such-prompt")
    assert missing.exit_code != 0 and "no prompt no-such-prompt" in missing.stderr
