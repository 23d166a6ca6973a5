"""nb_demo: see the package README."""

from importlib.metadata import version as _version

__version__ = _version("nb-demo")

__all__ = ["__version__"]
