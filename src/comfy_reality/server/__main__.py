"""``python -m comfy_reality.server --host 127.0.0.1 --port 8188 --speed 1.0``"""

from __future__ import annotations

import argparse
from pathlib import Path

from comfy_reality.logs import configure_logging
from comfy_reality.server.app import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m comfy_reality.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8188, help="port (default 8188, ComfyUI's)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="speed factor for simulated work (default 1.0)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="input/output/temp dirs (default: a temp dir)"
    )
    parser.add_argument(
        "--api",
        choices=["0.3.64", "current"],
        default="0.3.64",
        help="ComfyUI generation to imitate (default 0.3.64; current adds the jobs API)",
    )
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be greater than 0")
    configure_logging(level="info")  # structured logs go to the app's log file, not the terminal
    try:
        serve(args.host, args.port, args.speed, args.data_dir, api=args.api)
    except OSError as exc:
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()
