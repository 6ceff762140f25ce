"""comfy-reality-tui: run, watch, cancel and retry ComfyUI workflows from a terminal."""

__version__ = "0.1.0"
