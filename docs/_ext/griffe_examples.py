"""A griffe extension for the API pages: ``Example:`` sections are doctest examples.

The packages' docstrings head their doctests ``Example:`` (singular). Griffe's Google parser
reads that heading as an admonition of Markdown text, where ``>>>`` is a block quote; renamed
``Examples:`` it becomes an examples section, rendered as Python code. Only the rendering is
changed: the docstrings themselves stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headings to ``Examples:`` before docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
