"""``python -m comfy_reality.cli`` is the same as ``comfy-reality``."""

from comfy_reality.cli import main

if __name__ == "__main__":
    main()
