"""nb_formats: HDF5, Zarr v3 and NumPy+Parquet codecs with lazy random access for EEG/MEG.

Example:
    >>> import tempfile, nb_formats
    >>> from nb_core.testing import simulate_windows
    >>> path = tempfile.mkdtemp() + "/ds"
    >>> manifest = nb_formats.write(simulate_windows(n_recordings=1, duration=2.0), path, format="zarr")
    >>> manifest.layout, manifest.n_samples
    ('zarr', 2)
    >>> ds = nb_formats.open(path)
    >>> x, y = ds[0]
    >>> x.shape, x.dtype.name
    ((21, 250), 'float32')
"""

from importlib.metadata import version as _version
from typing import Any as _Any

from nb_formats.codecs import COMPRESSIONS, DEFAULT_COMPRESSION
from nb_formats.convert import convert
from nb_formats.dataset import NO_TARGET, LazyDataset, open
from nb_formats.verify import inspect_artifact, verify
from nb_formats.writer import FORMATS, write

__version__ = _version("nb-formats")

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_COMPRESSION",
    "FORMATS",
    "NO_TARGET",
    "LazyDataset",
    "__version__",
    "convert",
    "inspect_artifact",
    "open",
    "verify",
    "write",
]


def __getattr__(name: str) -> _Any:
    """``nb_formats.inspect``: the former name of :func:`inspect_artifact` (deprecated)."""
    if name == "inspect":
        import warnings

        warnings.warn(
            "nb_formats.inspect is deprecated (its name is the standard-library module's); "
            "use nb_formats.inspect_artifact",
            DeprecationWarning,
            stacklevel=2,
        )
        return inspect_artifact
    raise AttributeError(f"module 'nb_formats' has no attribute {name!r}")
