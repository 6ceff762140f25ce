"""The execution view with pictures, as fixed scenes (half blocks: plain text and colours).

``running``: the main scene's KSampler with a preview frame; ``completed``: its two outputs in
the gallery. The pictures come from the embedded server's drawing code, so they are the same
every time; nothing touches the network.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from textual.pilot import Pilot

from comfy_reality.config import Settings
from comfy_reality.runtime import PreviewFrame
from comfy_reality.runtime.models import OutputFile
from comfy_reality.server.pictures import jpeg_bytes, png_bytes, render
from comfy_reality.server.values import ImageValue
from comfy_reality.tui.app import ComfyRealityApp
from comfy_reality.tui.messages import PreviewArrived
from comfy_reality.tui.widgets.gallery import Gallery
from comfy_reality.tui.widgets.preview import LivePreview
from tests.tui import scenes
from tests.tui.pilot import wait_for
from tests.tui.scenes import apply_scene


def picture_app(workflows_dir: Path | None) -> ComfyRealityApp:
    app = ComfyRealityApp(
        Settings(server_url=scenes.SERVER_URL, images="halfblock"),
        connect=False,
        bundled_dir=workflows_dir,
        use_journal=False,
    )
    app.sources = app.sources[:1]
    app.log_timezone = UTC

    async def fetch(file: OutputFile) -> bytes:
        seed = int(file.filename.split("_")[1])
        return png_bytes(render(ImageValue(512, 512, pattern="gradient", seed=seed, caption=f"seed {seed}")))

    app.images.fetch_output = fetch
    return app


def preview_frame() -> PreviewFrame:
    image = ImageValue(512, 512, pattern="gradient", seed=42, noise_level=0.35, caption="seed 42")
    return PreviewFrame(
        execution_id="exec_main",
        prompt_id=scenes.prompt_of("exec_main"),
        node_id="3",
        display_node_id="3",
        image_type="image/jpeg",
        image=jpeg_bytes(render(image)),
    )


async def apply_picture_scene(pilot: Pilot[None], state: str) -> None:
    app = pilot.app
    assert isinstance(app, ComfyRealityApp)
    await apply_scene(pilot, state)
    if state == "running":
        app.post_message(PreviewArrived(preview_frame()))
        preview = app.query_one(LivePreview)
        await wait_for(pilot, lambda: preview.frames_drawn >= 1, what="the preview drawn")
    else:
        gallery = app.query_one(Gallery)
        await wait_for(
            pilot,
            lambda: len(gallery.thumbnails) == 2 and all(t.loaded for t in gallery.thumbnails),
            what="the thumbnails",
        )
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def export(directory: Path) -> list[Path]:
    """The README's picture screenshots: ``uv run python -m tests.tui.picture_scenes screenshots``."""
    from comfy_reality.tui import format as fmt

    from .helpers import WORKFLOWS

    written = []
    for state, name in (("running", "preview"), ("completed", "gallery")):
        app = picture_app(WORKFLOWS)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await apply_picture_scene(pilot, state)
                app.save_screenshot(filename=f"{name}-120x40.svg", path=str(directory))
                written.append(directory / f"{name}-120x40.svg")
        finally:
            fmt.freeze_clock(None)
    return written


if __name__ == "__main__":
    import asyncio
    import sys

    for path in asyncio.run(export(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))):
        print(path)
