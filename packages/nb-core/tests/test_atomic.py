"""Atomic writes: the final name appears only when complete; failures leave nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from nb_core.atomic import (
    TMP_PREFIX,
    atomic_open,
    atomic_path,
    atomic_write_json,
    clean_temporaries,
    dumps_json,
    is_temporary,
)
from nb_core.errors import OutputExistsError


def test_file_appears_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_open(target, "wb") as f:
        f.write(b"half")
        assert not target.exists()
        raise RuntimeError("crash mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_open(target, "wb") as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole"


def test_failed_rewrite_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_open(target, "w") as f:
        f.write("new but broken")
        raise ValueError
    assert target.read_text() == "old"


def test_directory_replace(tmp_path: Path) -> None:
    target = tmp_path / "store.zarr"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["store.zarr"]


def test_no_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        atomic_write_json(target, {"a": 2}, overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_json(target, {"a": 2}, overwrite=False)
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_dumps_json_is_canonical() -> None:
    assert dumps_json({"b": 1, "a": "é"}) == dumps_json({"a": "é", "b": 1})
    assert "é" in dumps_json({"a": "é"})
    with pytest.raises(ValueError):
        dumps_json({"x": float("nan")})


def test_clean_temporaries(tmp_path: Path) -> None:
    (tmp_path / f"{TMP_PREFIX}abc-file").write_text("x")
    d = tmp_path / "sub" / f"{TMP_PREFIX}def-dir"
    d.mkdir(parents=True)
    (d / "inner").write_text("y")
    (tmp_path / "keep.txt").write_text("z")
    removed = clean_temporaries(tmp_path)
    assert len(removed) == 2
    assert all(is_temporary(p.name) for p in removed)
    assert (tmp_path / "keep.txt").exists()
    assert not d.exists()


def test_start_writeback(tmp_path: Path) -> None:
    import sys

    from nb_core.atomic import start_writeback

    with (tmp_path / "f.bin").open("wb") as f:
        f.write(b"z" * 65536)
        f.flush()
        assert start_writeback(f.fileno(), 0, 65536) is sys.platform.startswith("linux")
        assert start_writeback(f.fileno(), 0, 0) is False
    assert (tmp_path / "f.bin").read_bytes() == b"z" * 65536
