"""Saving server-named files: basename only, no traversal, never overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_reality.cli.files import MAX_NAME, safe_basename, save_new_file


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ComfyUI_00001_.png", "ComfyUI_00001_.png"),
        ("../../.bashrc", "bashrc"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\temp\\x.png", "x.png"),
        ("sub/dir/out.png", "out.png"),
        ("..", "output"),
        ("", "output"),
        ("a\x00b.png", "a_b.png"),
        ('we"ird:na|me?.png', "we_ird_na_me_.png"),
        ("dir/", "output"),
    ],
)
def test_safe_basename(given: str, expected: str) -> None:
    assert safe_basename(given) == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_basename("x" * 500 + ".png")
    assert len(name) == MAX_NAME and name.endswith(".png")


def test_save_new_file_stays_inside_and_adds_suffixes(tmp_path: Path) -> None:
    first = save_new_file(tmp_path, "../escape.png", b"one")
    second = save_new_file(tmp_path, "escape.png", b"two")
    third = save_new_file(tmp_path, "/abs/escape.png", b"three")
    assert [p.name for p in (first, second, third)] == ["escape.png", "escape-1.png", "escape-2.png"]
    assert all(p.parent == tmp_path for p in (first, second, third))
    assert first.read_bytes() == b"one" and third.read_bytes() == b"three"
    assert not (tmp_path.parent / "escape.png").exists()


def test_save_new_file_never_follows_an_existing_name(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").symlink_to(target)
    saved = save_new_file(tmp_path / "out", "a.png", b"new")
    assert saved.name == "a-1.png"
    assert target.read_text() == "keep"
