"""The figures every benchmark reports: one row per measurement, beside the baseline it is judged against."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

from comfy_reality.runtime.models import utc_now


@dataclass
class Row:
    """One measured figure and the baseline it is judged against."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None
    ratio: float | None = None
    target: str | None = None
    ok: bool | None = None
    note: str | None = None


@dataclass
class Report:
    quick: bool
    rows: list[Row] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: utc_now().isoformat())
    python: str = field(default_factory=platform.python_version)
    machine: str = field(
        default_factory=lambda: f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row
