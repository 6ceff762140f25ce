"""The values that flow between simulated nodes.

Images are recipes, not pixel buffers: a size plus a procedural pattern. Rendering (in
``server.pictures``) happens only when a node writes a file or sends a preview, so a 2048x2048
graph costs nothing until it is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class ImageValue:
    """An IMAGE batch (ComfyUI: float tensor [batch, height, width, 3])."""

    width: int
    height: int
    batch: int = 1
    color: int = 0x000000
    pattern: str = "solid"  # solid | gradient | noise
    seed: int = 0
    inverted: bool = False
    noise_level: float = 0.0  # 0 = clean, 1 = pure noise (sampler previews)
    caption: str = ""  # drawn into the picture (the sampler's seed), see server.pictures

    def resized(self, width: int, height: int) -> ImageValue:
        return replace(self, width=max(1, width), height=max(1, height))

    def invert(self) -> ImageValue:
        return replace(self, inverted=not self.inverted)

    def rgb(self) -> tuple[int, int, int]:
        c = self.color & 0xFFFFFF
        return (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF

    def torch_repr(self) -> str:
        """What ``str(tensor)`` looks like for this image, for execution_error.current_inputs."""
        return _tensor_text(self)


def _fmt(v: float) -> str:
    return f"{v:.4f}"


def _tensor_text(image: ImageValue) -> str:
    """Approximate torch's printout (4 decimals, nested brackets, '...' past 1000 elements)."""
    r, g, b = image.rgb()
    px = [r / 255, g / 255, b / 255]
    if image.inverted:
        px = [1 - v for v in px]
    pixel = "[" + ", ".join(_fmt(v) for v in px) + "]"
    total = image.batch * image.height * image.width * 3
    summarise = total > 1000

    def seq(items: list[str], n: int, indent: str) -> str:
        if summarise and n > 6:
            items = [*items[:3], "...", *items[-3:]]
        return "[" + f",\n{indent}".join(items) + "]"

    def row_text() -> str:
        return seq([pixel] * min(image.width, 7 if summarise else image.width), image.width, "          ")

    rows = seq(
        [row_text()] * min(image.height, 7 if summarise else image.height), image.height, "\n         "
    )
    batch = seq([rows] * min(image.batch, 7 if summarise else image.batch), image.batch, "\n\n        ")
    return f"tensor({batch})"


@dataclass(frozen=True)
class LatentValue:
    """A LATENT dict; sizes kept in pixels (the latent itself is 1/8 of that)."""

    width: int
    height: int
    batch: int = 1
    seed: int = 0
    denoised: bool = False
    label: str = ""

    def torch_repr(self) -> str:
        return f"{{'samples': tensor(..., size=({self.batch}, 4, {self.height // 8}, {self.width // 8}))}}"


@dataclass(frozen=True)
class Handle:
    """An opaque object (MODEL, CLIP, VAE, CONDITIONING, ...): only its kind and origin matter."""

    kind: str
    name: str = ""
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return f"<{self.kind} {self.name}>".replace(" >", ">")


@dataclass(frozen=True)
class ExecutionBlocker:
    """Output of a blocked node; consumers are skipped, and a message (if any) is reported once."""

    message: str | None


def format_value(value: Any) -> Any:
    """Same rule as ComfyUI's execution.format_value: scalars stay, everything else is str()."""
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, ImageValue | LatentValue):
        return value.torch_repr()
    return str(value)
