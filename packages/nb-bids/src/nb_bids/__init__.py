"""nb-bids: fast BIDS indexing and lossless BIDS → Hugging Face conversion.

Example:
    >>> import tempfile, pathlib
    >>> import nb_bids
    >>> from nb_bids.testing import make_bids_tree
    >>> root = make_bids_tree(tempfile.mkdtemp(), n_subjects=2, eeg=False)
    >>> table = nb_bids.index(root, cache=False)
    >>> nb_bids.index_report(table)["n_subjects"]
    2
"""

from importlib.metadata import version as _version

from nb_bids.converter import ExpectationError, convert
from nb_bids.discovery import NotBidsDatasetError, index, index_report, parse_name, read_tsv
from nb_bids.exporter import export, inspect_artifact, verify

__version__ = _version("nb-bids")

__all__ = [
    "ExpectationError",
    "NotBidsDatasetError",
    "__version__",
    "convert",
    "export",
    "index",
    "index_report",
    "inspect_artifact",
    "parse_name",
    "read_tsv",
    "verify",
]
