"""Server-chosen output names never write outside the destination, and never overwrite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_reality.errors import UnsafeOutputPathError
from comfy_reality.runtime.models import OutputFile, WorkflowExecution
from comfy_reality.runtime.outputs import safe_output_path, save_outputs


def inside(path: Path, root: Path) -> bool:
    real_root = root.resolve()
    real = path.parent.resolve() / path.name
    return real_root in real.parents


@pytest.mark.parametrize(
    ("filename", "subfolder", "reason"),
    [
        ("../../etc/passwd", "", "file name"),
        ("..", "", "'..'"),
        ("x.png", "../..", "'..'"),
        ("x.png", "a/../../b", "'..'"),
        ("/etc/passwd", "", "absolute"),
        ("x.png", "/tmp", "absolute"),
        ("C:\\Windows\\win.ini", "", "absolute"),
        ("x.png", "C:", "absolute"),
        ("x.png", "d:foo", "absolute"),
        ("..\\..\\evil.png", "", "'..'"),
        ("x.png", "sub\\..\\..", "'..'"),
        ("evil\x00.png", "", "NUL"),
        ("x.png", "sub\x00dir", "NUL"),
        ("bad\nname.png", "", "control"),
        ("", "", "empty"),
        (".", "", "empty"),
        ("a/b.png", "", "contains a folder"),
        ("CON.png", "", "reserved"),
        ("x.png", "nul", "reserved"),
        ("x.png", "/".join(["d"] * 40), "deeper"),
        ("x\ud800.png", "", "not valid Unicode"),
    ],
)
def test_unsafe_names_are_refused_with_a_reason(
    tmp_path: Path, filename: str, subfolder: str, reason: str
) -> None:
    with pytest.raises(UnsafeOutputPathError) as info:
        safe_output_path(tmp_path, filename, subfolder)
    assert reason in str(info.value)
    assert "not written" in str(info.value)


@pytest.mark.parametrize(
    ("filename", "subfolder"),
    [
        ("a" * 300 + ".png", ""),
        ("é" * 200 + ".png", ""),  # 400 bytes in 200 characters
        ("x.png", "d" * 300),
        ("名" * 120, ""),  # no extension, 360 bytes
    ],
)
def test_names_over_255_bytes_are_shortened_not_refused(
    tmp_path: Path, filename: str, subfolder: str
) -> None:
    path = safe_output_path(tmp_path, filename, subfolder)
    assert inside(path, tmp_path)
    for part in path.relative_to(tmp_path.resolve()).parts:
        assert len(part.encode("utf-8")) <= 255 - 8  # room for the _N that avoids overwriting
    if filename.endswith(".png"):
        assert path.suffix == ".png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ok")  # the file system takes the name


def test_ordinary_names_keep_their_subfolder(tmp_path: Path) -> None:
    assert safe_output_path(tmp_path, "img_00001_.png", "") == tmp_path.resolve() / "img_00001_.png"
    assert safe_output_path(tmp_path, "a.png", "run/2026") == tmp_path.resolve() / "run" / "2026" / "a.png"
    assert safe_output_path(tmp_path, "a.png", "./run/") == tmp_path.resolve() / "run" / "a.png"
    # Characters Windows cannot store are replaced, so saved outputs can be copied anywhere.
    assert safe_output_path(tmp_path, 'what?:"x".png', "").name == "what___x_.png"


def test_a_symlink_inside_the_destination_pointing_outside_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeOutputPathError) as info:
        safe_output_path(dest, "x.png", "escape")
    assert "symlink" in str(info.value)
    with pytest.raises(UnsafeOutputPathError):
        safe_output_path(dest, "x.png", "escape/deeper")


def test_a_symlink_that_stays_inside_is_allowed(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "real").mkdir(parents=True)
    (dest / "alias").symlink_to(dest / "real", target_is_directory=True)
    assert safe_output_path(dest, "x.png", "alias") == (dest / "real" / "x.png").resolve()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    filename=st.text(alphabet=st.sampled_from(list("ab./\\:\x00C.. ")) | st.characters(), max_size=40),
    subfolder=st.text(alphabet=st.sampled_from(list("ab./\\:\x00C.. ")) | st.characters(), max_size=40),
)
def test_any_name_is_refused_or_lands_inside(tmp_path: Path, filename: str, subfolder: str) -> None:
    try:
        path = safe_output_path(tmp_path, filename, subfolder)
    except UnsafeOutputPathError:
        return
    assert inside(path, tmp_path)


class FakeDownloads:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requested: list[str] = []

    async def download_output(self, file: OutputFile) -> bytes:
        self.requested.append(file.filename)
        return self.files[file.filename]


def execution_with(*files: OutputFile) -> WorkflowExecution:
    return WorkflowExecution(workflow_id="w", output_files=list(files))


async def test_save_outputs_never_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "img.png").write_bytes(b"mine")
    (dest / "img_1.png").write_bytes(b"mine too")
    source = FakeDownloads({"img.png": b"server"})
    saved = await save_outputs(source, execution_with(OutputFile(node_id="9", filename="img.png")), dest)
    assert saved == [dest.resolve() / "img_2.png"]
    assert (dest / "img.png").read_bytes() == b"mine"
    assert (dest / "img_1.png").read_bytes() == b"mine too"
    assert saved[0].read_bytes() == b"server"


async def test_save_outputs_skips_hostile_names_and_saves_the_rest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    source = FakeDownloads({"ok.png": b"1", "victim.txt": b"pwned", "../victim.txt": b"pwned", "p.png": b"2"})
    execution = execution_with(
        OutputFile(node_id="1", filename="ok.png"),
        OutputFile(node_id="2", filename="../victim.txt"),
        OutputFile(node_id="3", filename="victim.txt", subfolder=str(tmp_path)),
        OutputFile(node_id="4", filename="p.png", subfolder="previews", type="temp"),
    )
    saved = await save_outputs(source, execution, dest)
    assert saved == [dest.resolve() / "ok.png"]
    assert victim.read_text() == "safe"
    assert "../victim.txt" not in source.requested  # refused before any download
    with_temp = await save_outputs(source, execution, dest, types=("output", "temp"))
    assert sorted(p.relative_to(dest.resolve()).as_posix() for p in with_temp) == [
        "ok_1.png",
        "previews/p.png",
    ]


async def test_save_outputs_does_not_follow_a_planted_file_symlink(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep")
    (dest / "img.png").symlink_to(target)
    saved = await save_outputs(
        FakeDownloads({"img.png": b"server"}),
        execution_with(OutputFile(node_id="1", filename="img.png")),
        dest,
    )
    assert target.read_text() == "keep"
    assert saved == [dest.resolve() / "img_1.png"]
    assert not saved[0].is_symlink()


async def test_save_outputs_uses_client_view_when_given_a_client(tmp_path: Path) -> None:
    calls: list[tuple[str, str, str]] = []

    class Client:
        async def view(self, filename: str, subfolder: str, type: str) -> bytes:
            calls.append((filename, subfolder, type))
            return b"png"

    saved = await save_outputs(
        Client(), execution_with(OutputFile(node_id="1", filename="a.png", subfolder="s")), tmp_path / "o"
    )
    assert calls == [("a.png", "s", "output")]
    assert [p.read_bytes() for p in saved] == [b"png"]
    assert not os.stat(saved[0]).st_mode & 0o111  # never executable
