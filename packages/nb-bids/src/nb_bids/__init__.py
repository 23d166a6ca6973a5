"""nb_bids: see the package README."""

from importlib.metadata import version as _version

__version__ = _version("nb-bids")

__all__ = ["__version__"]
