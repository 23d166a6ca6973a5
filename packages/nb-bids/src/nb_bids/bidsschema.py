"""What nb-bids takes from the official BIDS schema (shipped inside ``bidsschematools``).

Entity names, their short keys, their order and value formats; datatypes, suffixes and
extensions. Nothing is downloaded: the schema is the one installed with ``bidsschematools``.

Example:
    >>> s = bids_schema()
    >>> s.entity_keys[0], s.entity_keys.index("ses") < s.entity_keys.index("run")
    ('sub', True)
    >>> s.key_to_name["acq"]
    'acquisition'
    >>> "anat" in s.datatypes
    True
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["BidsSchema", "bids_schema"]


@dataclass(frozen=True)
class BidsSchema:
    """The parts of the BIDS schema an index needs.

    Attributes:
        entity_keys: short keys (``sub``, ``ses``, ``acq``...) in the schema's filename order.
        entity_names: the long names (``subject``, ``session``...), same order (used as column names).
        key_to_name: short key → long name.
        patterns: short key → compiled full-match regex of its value format.
        datatypes: every datatype directory name the schema knows.
        suffixes: every suffix the schema knows.
        extensions: every extension (``.nii.gz``, ``.ds/``...), longest first.
        bids_version: the BIDS version of the schema.
        schema_version: the schema's own version.
        positions: short key → its position in the filename order.
    """

    entity_keys: tuple[str, ...]
    entity_names: tuple[str, ...]
    key_to_name: dict[str, str]
    patterns: dict[str, re.Pattern[str]]
    datatypes: frozenset[str]
    suffixes: frozenset[str]
    extensions: tuple[str, ...]
    bids_version: str
    schema_version: str
    positions: dict[str, int]


@functools.lru_cache(maxsize=1)
def bids_schema() -> BidsSchema:
    """Load the BIDS schema that ships with ``bidsschematools`` (once per process)."""
    from bidsschematools import schema as bst

    s = bst.load_schema()
    ents = s.objects.entities
    formats = s.objects.formats
    order = list(s.rules.entities)
    keys, names, patterns = [], [], {}
    for long_name in order:
        e = ents[long_name]
        keys.append(e["name"])
        names.append(long_name)
        fmt = e.get("format", "label")
        pat = formats[fmt]["pattern"] if fmt in formats else "[0-9a-zA-Z+]+"
        patterns[e["name"]] = re.compile(pat)
    exts = sorted({v["value"] for v in s.objects.extensions.values() if v["value"] not in ("", ".*", "/")})
    return BidsSchema(
        entity_keys=tuple(keys),
        entity_names=tuple(names),
        key_to_name=dict(zip(keys, names, strict=True)),
        patterns=patterns,
        datatypes=frozenset(v["value"] for v in s.objects.datatypes.values()),
        suffixes=frozenset(v["value"] for v in s.objects.suffixes.values()),
        extensions=tuple(sorted(exts, key=len, reverse=True)),
        bids_version=str(s.bids_version),
        schema_version=str(s.schema_version),
        positions={k: i for i, k in enumerate(keys)},
    )
