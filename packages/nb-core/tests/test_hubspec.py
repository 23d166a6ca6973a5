from __future__ import annotations

import doctest
import shutil
import subprocess
from pathlib import Path

import pytest

import nb_core.hubspec
from nb_core.hubspec import SIZE_CATEGORIES, git_blob_sha1, git_blob_sha1_file, size_category


@pytest.mark.parametrize("data", [b"", b"hello\n", bytes(range(256)) * 9000], ids=["empty", "hello", "2.3MB"])
def test_git_blob_sha1_matches_git(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert git_blob_sha1_file(p) == git_blob_sha1(data) == git_blob_sha1_file(p, chunk_size=1000)
    if shutil.which("git") is not None:
        out = subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == git_blob_sha1(data)
    else:  # the well-known ids of the empty blob and of b"hello\n"
        known = {
            b"": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
            b"hello\n": "ce013625030ba8dba906f756967f9e9ca394464a",
        }
        if data in known:
            assert git_blob_sha1(data) == known[data]


def test_size_category_bounds() -> None:
    assert [size_category(n) for n in (0, 999, 1_000, 9_999, 10_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1K<n<10K",
        "10K<n<100K",
    ]
    # each category starts at ten times the previous bound; the last is open-ended
    for i, name in enumerate(SIZE_CATEGORIES[1:], start=1):
        assert size_category(10 ** (i + 2)) == name
        assert size_category(10 ** (i + 2) - 1) == SIZE_CATEGORIES[i - 1]
    assert size_category(10**15) == "n>1T"


def test_doctests() -> None:
    assert doctest.testmod(nb_core.hubspec).failed == 0


@pytest.mark.parametrize(
    ("relpath", "side"),
    [
        ("README.md", True),
        (".gitattributes", True),
        ("nb-preview.png", True),
        (".cache/huggingface/download/data.h5.metadata", True),
        ("data.h5", False),
        ("nb-manifest.json", False),
        ("sub/README.md", False),
        (".cache/other/file", False),
    ],
)
def test_repo_side_files(relpath: str, side: bool) -> None:
    from nb_core.hubspec import is_repo_side_file

    assert is_repo_side_file(relpath) is side
