"""Where the app keeps its files (platformdirs), and where bundled data lives."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "comfy-reality"


def _dir(kind: str) -> Path:
    # COMFY_REALITY_HOME moves every directory at once (tests, portable installs).
    home = os.environ.get("COMFY_REALITY_HOME")
    if home:
        return Path(home) / kind
    import platformdirs  # imported here: every command starts by asking for a path

    getter = {
        "config": platformdirs.user_config_path,
        "data": platformdirs.user_data_path,
        "cache": platformdirs.user_cache_path,
        "log": platformdirs.user_log_path,
    }[kind]
    return Path(getter(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _dir("config")


def data_dir() -> Path:
    return _dir("data")


def cache_dir() -> Path:
    return _dir("cache")


def log_dir() -> Path:
    return _dir("log")


def config_file() -> Path:
    return config_dir() / "config.toml"


def log_file() -> Path:
    return log_dir() / "comfy-reality.jsonl"


def user_workflows_dir() -> Path:
    return data_dir() / "workflows"


def default_output_dir() -> Path:
    return data_dir() / "outputs"


def journal_file() -> Path:
    return data_dir() / "journal.sqlite3"


def bundled_workflows_dir() -> Path:
    """The saved workflows shipped with the app: package data in a wheel, ``workflows/`` in a checkout."""
    from importlib import resources

    packaged = resources.files("comfy_reality") / "bundled_workflows"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "workflows"
