"""nb_shards: see the package README."""

from importlib.metadata import version as _version

__version__ = _version("nb-shards")

__all__ = ["__version__"]
