"""nb_hub: see the package README."""

from importlib.metadata import version as _version

__version__ = _version("nb-hub")

__all__ = ["__version__"]
