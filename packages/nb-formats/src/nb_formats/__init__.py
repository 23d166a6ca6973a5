"""nb_formats: see the package README."""

from importlib.metadata import version as _version

__version__ = _version("nb-formats")

__all__ = ["__version__"]
