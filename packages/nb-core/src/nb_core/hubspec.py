"""Conventions of Git and the Hugging Face Hub that neurobridge computes itself.

One copy, used both by ``nb_hub`` (to tell whether a remote file already has a local
file's content, and to fill a dataset card) and by its Hub emulator (to give each file
the id the Hub would give it, and to check card metadata):

- :func:`git_blob_sha1` / :func:`git_blob_sha1_file`: the Git object id of a blob,
  ``sha1(b"blob <size>\\0" + content)``, which the Hub reports as ``blobId`` (``oid`` in
  tree listings) of every file stored in Git (not through LFS).
- :data:`SIZE_CATEGORIES` / :func:`size_category`: the Hub's ``size_categories`` values of a
  dataset card (``"n<1K"``, ``"1K<n<10K"``, ...) and the one that fits a number of samples.
- :data:`REPO_SIDE_FILES` / :func:`is_repo_side_file`: the files a dataset repository (and a
  download of it) has beside the artifact's own: the card, its preview image, ``.gitattributes``,
  and ``huggingface_hub``'s bookkeeping under ``.cache/huggingface/`` in a ``local_dir``.
  Verifiers that refuse unlisted files skip these, so a pulled artifact verifies.

Example:
    >>> git_blob_sha1(b"hello\\n")  # the same as `git hash-object` of that file
    'ce013625030ba8dba906f756967f9e9ca394464a'
    >>> size_category(999), size_category(12_345), size_category(10**13)
    ('n<1K', '10K<n<100K', 'n>1T')
    >>> is_repo_side_file("README.md"), is_repo_side_file(".cache/huggingface/download/x.metadata")
    (True, True)
    >>> is_repo_side_file("data.h5"), is_repo_side_file("sub/README.md")
    (False, False)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "REPO_SIDE_FILES",
    "SIZE_CATEGORIES",
    "git_blob_sha1",
    "git_blob_sha1_file",
    "is_repo_side_file",
    "size_category",
]

#: Files at a dataset repository's root that are not part of the artifact (the dataset card,
#: its preview image, Git attributes); not listed in the manifest.
REPO_SIDE_FILES: frozenset[str] = frozenset({"README.md", "nb-preview.png", ".gitattributes"})
#: Where ``huggingface_hub`` keeps its bookkeeping in a download's ``local_dir``.
_LOCAL_DIR_CACHE = ".cache/huggingface/"


def is_repo_side_file(relpath: str) -> bool:
    """Whether ``relpath`` (POSIX, relative to the artifact's root) is a file that a Hub repository
    or a download of it has beside the artifact (see :data:`REPO_SIDE_FILES`).

    Example:
        >>> is_repo_side_file(".gitattributes"), is_repo_side_file("train-000000.tar")
        (True, False)
    """
    return relpath in REPO_SIDE_FILES or relpath.startswith(_LOCAL_DIR_CACHE)


#: The Hub's ``size_categories`` values, smallest first (each bound is ten times the last).
SIZE_CATEGORIES: tuple[str, ...] = (
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "1B<n<10B",
    "10B<n<100B",
    "100B<n<1T",
    "n>1T",
)

_CHUNK = 1 << 20


def git_blob_sha1(data: bytes | bytearray | memoryview) -> str:
    """Hex Git object id of a blob with content ``data`` (as ``git hash-object`` prints it).

    Example:
        >>> git_blob_sha1(b"")
        'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    view = memoryview(data).cast("B")
    h = hashlib.sha1(f"blob {view.nbytes}\0".encode(), usedforsecurity=False)
    h.update(view)
    return h.hexdigest()


def git_blob_sha1_file(path: str | os.PathLike[str], *, chunk_size: int = _CHUNK) -> str:
    """Hex Git object id of a file's content, read in chunks (constant memory).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = p.write_bytes(b"hello\\n")
        >>> git_blob_sha1_file(p) == git_blob_sha1(b"hello\\n")
        True
    """
    with Path(path).open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
        n = 0
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
            n += len(chunk)
    if n != size:  # the file changed while it was read: the header would be wrong
        raise OSError(f"{path}: the file changed size while it was hashed ({size} -> {n} bytes)")
    return h.hexdigest()


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for a dataset of ``n`` samples (rows).

    Example:
        >>> size_category(1_000)
        '1K<n<10K'
    """
    bound = 1_000
    for name in SIZE_CATEGORIES[:-1]:
        if n < bound:
            return name
        bound *= 10
    return SIZE_CATEGORIES[-1]
