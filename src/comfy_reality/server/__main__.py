"""``python -m comfy_reality.server``: the same command line as ``comfy-reality server``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from comfy_reality.cli.server import server

    server.main(args=argv if argv is not None else sys.argv[1:], prog_name="python -m comfy_reality.server")


if __name__ == "__main__":
    main()
