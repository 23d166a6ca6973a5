"""Filters of a mixture source: data (a mapping), never code, evaluated on a metadata index.

A filter maps a field to a condition; all conditions must hold::

    {subject: {in: ["01", "02"]}, target: {ge: 1}, task: rest, run: {range: [1, 3]}}

Conditions: ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``, ``not_in``, ``range: [lo, hi]``
(``lo <= v < hi``), ``between: [lo, hi]`` (both ends included), ``exists: true|false``; a plain
value means ``eq``, a list means ``in``. Several conditions on one field must all hold. A field
is looked up as written, then under ``json.`` and then ``json.entities.`` (so ``subject`` finds
the BIDS entity of a converted recording). A sample whose field is missing or null fails every
condition but ``ne``, ``not_in`` and ``exists: false``.

Example:
    >>> cols = {"json.subject": ["01", "02", "03"], "json.target": [0, 1, 2]}
    >>> compile_filter({"subject": {"in": ["01", "03"]}, "target": {"ge": 1}}, cols).tolist()
    [False, False, True]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nb_core.errors import IncompatibleDataError, SchemaError

__all__ = ["OPS", "check_filter", "compile_filter", "resolve_field"]

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, x: v == x,
    "ne": lambda v, x: v != x,
    "lt": lambda v, x: v < x,
    "le": lambda v, x: v <= x,
    "gt": lambda v, x: v > x,
    "ge": lambda v, x: v >= x,
}
#: The conditions a filter may use.
OPS = (*_CMP, "in", "not_in", "range", "between", "exists")
_SCALARS = (str, int, float, bool, type(None))

ErrorAt = Callable[[tuple[Any, ...], str], SchemaError]


def _plain(field: str, cond: Any) -> dict[str, Any]:
    if isinstance(cond, Mapping):
        return dict(cond)
    if isinstance(cond, list):
        return {"in": cond}
    return {"eq": cond}


def check_filter(flt: Any, error: ErrorAt) -> None:
    """Check the structure of a filter (no data needed); ``error(path, message)`` builds the error.

    Raises:
        SchemaError: an unknown condition or a value of the wrong kind.
    """
    if not isinstance(flt, Mapping):
        raise error((), "must map fields to conditions, e.g. {subject: {in: ['01']}, target: {ge: 1}}")
    for field, cond in flt.items():
        if not isinstance(field, str) or not field:
            raise error((field,), "a field name must be a non-empty string")
        conds = _plain(field, cond)
        if not conds:
            raise error((field,), "needs at least one condition")
        for op, x in conds.items():
            _check_op(op, x, (field, op), error)


def _check_op(op: Any, x: Any, at: tuple[Any, ...], error: ErrorAt) -> None:
    if op not in OPS:
        raise error(at, f"unknown condition {str(op)[:40]!r}; use one of {', '.join(OPS)}")
    if op in _CMP:
        if not isinstance(x, _SCALARS):
            raise error(at, f"must be a single value (string, number, boolean or null); got {str(x)[:60]!r}")
    elif op in ("in", "not_in"):
        if not isinstance(x, list) or not all(isinstance(v, _SCALARS) for v in x):
            raise error(at, f"must be a list of values; got {str(x)[:60]!r}")
    elif op in ("range", "between"):
        if not isinstance(x, list) or len(x) != 2 or not all(isinstance(v, _SCALARS) for v in x):
            raise error(at, f"must be [low, high]; got {str(x)[:60]!r}")
    elif not isinstance(x, bool):
        raise error(at, f"must be true or false; got {x!r}")


def resolve_field(name: str, columns: Mapping[str, Any]) -> str | None:
    """The metadata column a filter field names (as written, under ``json.``, under ``json.entities.``)."""
    for cand in (name, f"json.{name}", f"json.entities.{name}"):
        if cand in columns:
            return cand
    return None


def _test(op: str, x: Any, v: Any) -> bool:
    if op == "exists":
        return (v is not None) == x
    if v is None:
        return op in ("ne", "not_in")
    if op in _CMP:
        return bool(_CMP[op](v, x))
    if op == "in":
        return v in x
    if op == "not_in":
        return v not in x
    lo, hi = x
    if op == "range":
        return bool((lo is None or v >= lo) and (hi is None or v < hi))
    return bool((lo is None or v >= lo) and (hi is None or v <= hi))


def _hashable(x: Any) -> Any:
    return frozenset(x) if isinstance(x, list) and all(isinstance(v, _SCALARS) for v in x) else x


def compile_filter(
    flt: Mapping[str, Any], columns: Mapping[str, list[Any]], *, where: str = "filter"
) -> np.ndarray:
    """The boolean mask of the rows a filter keeps.

    Args:
        flt: a checked filter (see :func:`check_filter`).
        columns: metadata column name → one value per sample.
        where: named in errors (``mix.yaml line 7: sources[0].filter``).

    Raises:
        SchemaError: a field that no sample has (the known fields are listed).
        IncompatibleDataError: an order comparison between values of different kinds (``"01" >= 1``).
    """
    n = len(next(iter(columns.values()))) if columns else 0
    keep = np.ones(n, dtype=bool)
    for field, cond in flt.items():
        col = resolve_field(field, columns)
        if col is None:
            known = ", ".join(sorted(columns)[:30])
            raise SchemaError(
                f"no sample has the field {field!r}; fields of this source: {known}", field=f"{where}.{field}"
            )
        values = columns[col]
        for op, x in _plain(field, cond).items():
            arg = _hashable(x) if op in ("in", "not_in") else x
            try:
                keep &= np.fromiter((_test(op, arg, v) for v in values), dtype=bool, count=n)
            except TypeError:
                kinds = sorted({type(v).__name__ for v in values if v is not None})
                raise IncompatibleDataError(
                    f"{where}.{field}.{op}: cannot compare {str(x)[:40]!r} ({type(x).__name__}) with the "
                    f"values of {col!r} ({', '.join(kinds)}); write the value with the field's type"
                ) from None
    return keep
