"""A package's ``__getattr__`` that imports a name's module on first use.

Packages export names whose modules are costly to import (pydantic models, widget classes);
loading them only when first read keeps start-up and the first frame short.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, module_of: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that loads ``name`` from ``module_of[name]`` once.

    ``module_of`` names modules relative to ``package`` (``"manager"`` or ``".manager"``); the
    loaded value is stored in ``namespace`` so later reads skip this hook.
    """

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        relative = module if module.startswith(".") else f".{module}"
        value = getattr(importlib.import_module(relative, package), name)
        namespace[name] = value
        return value

    return __getattr__
