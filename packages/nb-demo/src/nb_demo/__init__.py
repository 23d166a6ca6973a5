"""nb-demo: the end-to-end neurobridge pipeline on generated data (``nb demo``).

Example:
    >>> import nb_demo
    >>> callable(nb_demo.run_demo)
    True
"""

from importlib.metadata import version as _version

from nb_demo.pipeline import MARKER_NAME, QUICK, DemoReport, DemoSkipWarning, StepResult, run_demo

__version__ = _version("nb-demo")

__all__ = ["MARKER_NAME", "QUICK", "DemoReport", "DemoSkipWarning", "StepResult", "__version__", "run_demo"]
