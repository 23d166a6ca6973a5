"""The helpers every package shares: index checks, output checks, key sanitising, window
arithmetic, the progress flag and CLI wording of error messages."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_core
from nb_core import cli
from nb_core.atomic import atomic_write_bytes, check_output
from nb_core.errors import IndexOutOfRangeError, OutputExistsError, UserError
from nb_core.progress import progress, progress_enabled
from nb_core.schema import window_starts
from nb_core.validation import check_index, check_key, safe_key


def test_exported_from_package() -> None:
    assert nb_core.check_index is check_index
    assert nb_core.check_output is check_output
    assert nb_core.safe_key is safe_key
    assert nb_core.window_starts is window_starts
    assert nb_core.progress_enabled is progress_enabled


# -- check_index ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("i", "n", "expected"),
    [
        (0, 5, 0),
        (4, 5, 4),
        (-1, 5, 4),
        (-5, 5, 0),
        (np.int64(3), 5, 3),
        (np.uint8(2), 5, 2),
        (np.int32(-2), 5, 3),
    ],
)
def test_check_index_accepts_ints_and_negative(i: Any, n: int, expected: int) -> None:
    k = check_index(i, n)
    assert k == expected and type(k) is int


@pytest.mark.parametrize("i", [5, 6, -6, 10**30, np.int64(5)])
def test_check_index_out_of_range_names_what_index_and_count(i: Any) -> None:
    with pytest.raises(IndexOutOfRangeError, match=rf"window index {int(i)} is out of range for 5 windows"):
        check_index(i, 5, what="window")
    with pytest.raises(IndexError, match=r"in data/x\.h5$"):
        check_index(i, 5, what="window", where="data/x.h5")


def test_check_index_empty_dataset() -> None:
    with pytest.raises(IndexOutOfRangeError, match="sample index 0 is out of range for 0 samples"):
        check_index(0, 0, what="sample")


@pytest.mark.parametrize("i", [True, False, np.bool_(True), 1.0, "1", None, [1], np.float32(2)])
def test_check_index_refuses_bool_and_non_int(i: Any) -> None:
    with pytest.raises(UserError, match="sample index must be an integer; got"):
        check_index(i, 5, what="sample")


# -- check_output -----------------------------------------------------------------------------------
def test_check_output(tmp_path: Path) -> None:
    new = tmp_path / "new"
    assert check_output(str(new), overwrite=False) == new
    new.mkdir()
    with pytest.raises(OutputExistsError, match=r"new already exists; pass overwrite=True to replace it"):
        check_output(new, overwrite=False)
    assert check_output(new, overwrite=True) == new
    f = tmp_path / "f.bin"
    f.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        check_output(f, overwrite=False)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_check_output_refuses_a_dangling_link(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(OutputExistsError):
        check_output(link, overwrite=False)


def test_atomic_write_uses_the_same_check(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    atomic_write_bytes(p, b"1")
    with pytest.raises(OutputExistsError, match="pass overwrite=True"):
        atomic_write_bytes(p, b"2", overwrite=False)
    assert p.read_bytes() == b"1"


# -- safe_key ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kw", "expected"),
    [
        ("sub-01_task-rest_eeg", {}, "sub-01_task-rest_eeg"),
        ("sub-01.run 1", {}, "sub-01_run_1"),
        ("../../etc/passwd", {}, "etc_passwd"),
        ("__a__", {}, "a"),
        ("", {}, "x"),
        ("...", {"default": "item"}, "item"),
        ("rec.0/é", {"replacement": "-"}, "rec-0"),
        ("a\x00b\\c", {}, "a_b_c"),
    ],
)
def test_safe_key(text: str, kw: dict[str, str], expected: str) -> None:
    out = safe_key(text, **kw)
    assert out == expected
    assert check_key(out) == out


def test_safe_key_refuses_an_unsafe_replacement() -> None:
    with pytest.raises(UserError, match="replacement"):
        safe_key("a.b", replacement=".")


# -- window_starts ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "size", "stride"),
    [(1000, 250, None), (1000, 250, 100), (10, 4, 3), (4, 4, 1), (3, 4, 1), (0, 1, 1)],
)
def test_window_starts_match_the_definition(n: int, size: int, stride: int | None) -> None:
    step = stride or size
    brute = [s for s in range(n) if s % step == 0 and s + size <= n]
    r = window_starts(n, size, stride)
    assert list(r) == brute
    assert len(r) == max(0, (n - size) // step + 1)
    assert np.array_equal(np.arange(r.start, r.stop, r.step), np.array(brute, dtype=np.int64))


def test_window_starts_accepts_numpy_ints() -> None:
    assert list(window_starts(np.int64(10), np.int32(5))) == [0, 5]


@pytest.mark.parametrize(
    ("n", "size", "stride", "match"),
    [
        (10, 0, None, "size must be >= 1"),
        (10, 5, 0, "stride must be >= 1"),
        (-1, 5, None, "n_times must be >= 0"),
        (10, 2.5, None, "size must be an integer"),
        (10, True, None, "size must be an integer"),
    ],
)
def test_window_starts_refuses_bad_sizes(n: Any, size: Any, stride: Any, match: str) -> None:
    with pytest.raises(UserError, match=match):
        window_starts(n, size, stride)


# -- progress ---------------------------------------------------------------------------------------
def test_progress_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_enabled(True) is True
    assert progress_enabled(False) is False
    monkeypatch.setenv("NB_PROGRESS", "1")
    assert progress_enabled(None) is True and progress_enabled(False) is False
    monkeypatch.setenv("NB_PROGRESS", "0")
    assert progress_enabled(None) is False and progress_enabled(True) is True


def test_progress_show_progress_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NB_PROGRESS", "0")
    assert list(progress(range(3), desc="quiet", show_progress=None)) == [0, 1, 2]
    assert "quiet" not in capsys.readouterr().err
    assert list(progress(range(3), desc="shown", show_progress=True)) == [0, 1, 2]
    assert "shown" in capsys.readouterr().err
    monkeypatch.setenv("NB_PROGRESS", "1")
    assert list(progress(range(3), desc="hidden", show_progress=False)) == [0, 1, 2]
    assert "hidden" not in capsys.readouterr().err


# -- CLI wording ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x exists; pass overwrite=True to replace it", "x exists; pass --overwrite to replace it"),
        ("resume=True needs format='parquet'", "--resume needs --format parquet"),
        ("run verify=False", "run without --verify"),
        ("window_size 5 is too long", "--window-size 5 is too long"),
        ("the overwrite_all=True keyword", "the overwrite_all=True keyword"),
        ("--window-size stays", "--window-size stays"),
    ],
)
def test_cli_message(text: str, expected: str) -> None:
    assert cli.cli_message(text) == expected
    assert cli.cli_message(expected) == expected


def test_cli_message_only_given_flags() -> None:
    text = "pass overwrite=True; format='zarr'"
    assert cli.cli_message(text, flags=("format",)) == "pass overwrite=True; --format zarr"
    assert cli.cli_message(text, flags=()) == text


def _group_with_overwrite(subparsers: Any) -> None:
    _, sub = cli.add_group(subparsers, "fake", help="g", description="G.", examples="nb fake w out")
    w = cli.add_command(sub, "w", "write", "nb fake w out")
    w.add_argument("--overwrite", action="store_true")

    def _raise(args: argparse.Namespace) -> int:
        raise OutputExistsError("out already exists; pass overwrite=True to replace it (stride=3)")

    w.set_defaults(func=_raise)


class _EP:
    name, value = "fake", "tests:_group_with_overwrite"

    def load(self) -> Any:
        return _group_with_overwrite


def test_nb_rewords_errors_with_the_commands_own_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [_EP()] if group == cli.ENTRY_POINT_GROUP else [])
    assert cli.main(["fake", "w"]) == 2
    err = capsys.readouterr().err
    # --overwrite is a flag of this command, --stride is not: only the first is reworded.
    assert "nb: error: out already exists; pass --overwrite to replace it (stride=3)" in err


def test_cli_errors_decorator() -> None:
    def handler(args: argparse.Namespace) -> int:
        raise OutputExistsError("o exists; pass overwrite=True")

    wrapped = cli.cli_errors(handler)
    with pytest.raises(OutputExistsError, match="pass --overwrite$"):
        wrapped(argparse.Namespace())
    assert cli.cli_errors(lambda a: None)(argparse.Namespace()) == 0
    assert cli.command_flags(argparse.ArgumentParser(add_help=False)) == ()
