"""``python -m comfy_reality.runtime.benchmark``: runs the benchmark suite of a source checkout.

The benchmarks are development tools and live in the repository's ``benchmarks/`` folder, outside the
installed package; this entry point finds them beside ``src/`` and runs ``benchmarks.runtime``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

NOT_FOUND = (
    "The benchmarks live in the source repository (its benchmarks/ folder), not in the installed package: "
    "run this from a clone of comfy-reality-tui, or run `python -m benchmarks.runtime` in its root."
)


def source_root(package_file: Path | None = None) -> Path | None:
    """The checkout holding this package (``src/comfy_reality/runtime/``), if it has its ``benchmarks/``."""
    here = (package_file or Path(__file__)).resolve()
    root = here.parents[3]
    return root if (root / "benchmarks" / "runtime.py").is_file() else None


def main(argv: list[str] | None = None, package_file: Path | None = None) -> int:
    root = source_root(package_file)
    if root is None:
        print(NOT_FOUND, file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    suite = importlib.import_module("benchmarks.runtime")
    result: int = suite.main(argv)
    return result


if __name__ == "__main__":
    sys.exit(main())
