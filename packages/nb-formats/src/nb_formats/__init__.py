"""nb_formats: HDF5, Zarr v3 and NumPy+Parquet codecs with lazy random access for EEG/MEG.

Example:
    >>> import tempfile, nb_formats
    >>> from nb_core.testing import simulate_windows
    >>> path = nb_formats.write(simulate_windows(n_recordings=1, duration=2.0),
    ...                         tempfile.mkdtemp() + "/ds", format="zarr")
    >>> ds = nb_formats.open(path)
    >>> x, y = ds[0]
    >>> x.shape, x.dtype.name
    ((21, 250), 'float32')
"""

from importlib.metadata import version as _version

from nb_formats.codecs import COMPRESSIONS, DEFAULT_COMPRESSION
from nb_formats.convert import convert
from nb_formats.dataset import NO_TARGET, LazyDataset, open
from nb_formats.verify import inspect, verify
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
    "inspect",
    "open",
    "verify",
    "write",
]
