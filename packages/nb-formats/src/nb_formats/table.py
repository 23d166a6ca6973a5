"""The window table: one row per window, as NumPy columns, with typed targets.

Columns: ``recording_index`` (-1 when the window has no stored recording),
``start``/``stop`` (samples in its recording, or ``0``/``T`` for windows given as
arrays), braindecode's ``i_window_in_trial``, ``i_start_in_trial`` and
``i_stop_in_trial``, the target, and optional per-window ``extra`` JSON.

Targets are stored by kind: ``none``; ``int`` (int64); ``float`` (float64);
``str`` (codes into a list of labels); ``json`` (codes into a list of JSON texts,
for mixed kinds or missing values).

Example:
    >>> b = TableBuilder()
    >>> b.add(0, 0, 100, target=1)
    >>> b.add(0, 100, 200, target=2)
    >>> t = b.build()
    >>> t.target_kind, t.target(1), len(t)
    ('int', 2, 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nb_core.atomic import dumps_json
from nb_core.errors import SchemaError
from nb_core.schema import Target, Window
from nb_core.validation import check_json

__all__ = ["INT_COLUMNS", "TableBuilder", "WindowTable", "encode_targets"]

#: Integer columns of the table, in storage order.
INT_COLUMNS = ("recording_index", "start", "stop", "i_window_in_trial", "i_start_in_trial", "i_stop_in_trial")


def encode_targets(targets: list[Any]) -> tuple[str, np.ndarray | None, list[str]]:
    """Encode a target list as ``(kind, values, categories)`` (see the module docstring)."""
    if all(t is None for t in targets):
        return "none", None, []
    clean = [t.item() if isinstance(t, np.generic) else t for t in targets]
    if all(isinstance(t, int) and not isinstance(t, bool) for t in clean):
        return "int", np.asarray(clean, dtype=np.int64), []
    if all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in clean):
        vals = np.asarray(clean, dtype=np.float64)
        if not np.isfinite(vals).all():
            raise SchemaError("targets must be finite numbers", field="target")
        return "float", vals, []
    if all(isinstance(t, str) for t in clean):
        cats = sorted(set(clean))
        index = {c: i for i, c in enumerate(cats)}
        return "str", np.asarray([index[t] for t in clean], dtype=np.int32), cats
    texts = [dumps_json(check_json(t, field="target"), indent=None) for t in clean]
    cats = sorted(set(texts))
    index = {c: i for i, c in enumerate(cats)}
    return "json", np.asarray([index[t] for t in texts], dtype=np.int32), cats


@dataclass
class WindowTable:
    """Columns of the window table (see the module docstring)."""

    columns: dict[str, np.ndarray]
    target_kind: str = "none"
    target_values: np.ndarray | None = None
    target_categories: list[str] = field(default_factory=list)
    extra: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.columns["start"])

    def target(self, i: int) -> Target:
        """The target of row ``i`` as a Python value."""
        kind = self.target_kind
        if kind == "none" or self.target_values is None:
            return None
        v = self.target_values[i]
        if kind == "int":
            return int(v)
        if kind == "float":
            return float(v)
        if kind == "str":
            return self.target_categories[int(v)]
        out: Target = json.loads(self.target_categories[int(v)])
        return out

    def targets(self) -> list[Target]:
        return [self.target(i) for i in range(len(self))]

    def window(self, i: int, recording_id: str = "") -> Window:
        """Row ``i`` as an :class:`nb_core.Window` (the table stores the recording's index, not its id)."""
        c = self.columns
        return Window(
            recording_id,
            int(c["start"][i]),
            int(c["stop"][i]),
            target=self.target(i),
            i_window_in_trial=int(c["i_window_in_trial"][i]),
            i_start_in_trial=int(c["i_start_in_trial"][i]),
            i_stop_in_trial=int(c["i_stop_in_trial"][i]),
            extra=dict(self.extra[i]) if self.extra is not None and self.extra[i] else {},
        )

    def meta(self) -> dict[str, Any]:
        """Kind, categories and extra as JSON (what is stored beside the columns)."""
        return {
            "target_kind": self.target_kind,
            "target_categories": self.target_categories,
            "extra": self.extra,
        }

    @classmethod
    def from_parts(
        cls, columns: dict[str, np.ndarray], target_values: np.ndarray | None, meta: dict[str, Any]
    ) -> WindowTable:
        """Rebuild from stored columns and :meth:`meta` (validating lengths)."""
        n = len(columns["start"])
        for k in INT_COLUMNS:
            if k not in columns or len(columns[k]) != n:
                raise SchemaError(f"window table column {k!r} is missing or has the wrong length", field=k)
        kind = meta.get("target_kind", "none")
        if kind not in ("none", "int", "float", "str", "json"):
            raise SchemaError(f"unknown target kind {kind!r}", field="target_kind")
        if kind != "none" and (target_values is None or len(target_values) != n):
            raise SchemaError("target column is missing or has the wrong length", field="target")
        cats = list(meta.get("target_categories") or [])
        if (
            kind in ("str", "json")
            and target_values is not None
            and n
            and int(target_values.max()) >= len(cats)
        ):
            raise SchemaError("target codes point past the category list", field="target")
        extra = meta.get("extra")
        if extra is not None and len(extra) != n:
            raise SchemaError("extra has the wrong length", field="extra")
        return cls(
            columns={k: np.asarray(columns[k], dtype=np.int64) for k in INT_COLUMNS},
            target_kind=kind,
            target_values=target_values,
            target_categories=cats,
            extra=extra,
        )


class TableBuilder:
    """Collects window rows while a writer streams recordings; :meth:`build` gives the table."""

    def __init__(self) -> None:
        self._cols: dict[str, list[int]] = {k: [] for k in INT_COLUMNS}
        self._targets: list[Any] = []
        self._extra: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._targets)

    def add(
        self,
        recording_index: int,
        start: int,
        stop: int,
        *,
        target: Any = None,
        i_window_in_trial: int = 0,
        i_start_in_trial: int | None = None,
        i_stop_in_trial: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        c = self._cols
        c["recording_index"].append(int(recording_index))
        c["start"].append(int(start))
        c["stop"].append(int(stop))
        c["i_window_in_trial"].append(int(i_window_in_trial))
        c["i_start_in_trial"].append(int(start if i_start_in_trial is None else i_start_in_trial))
        c["i_stop_in_trial"].append(int(stop if i_stop_in_trial is None else i_stop_in_trial))
        self._targets.append(target.item() if isinstance(target, np.generic) else target)
        self._extra.append(check_json(dict(extra or {}), field=f"window[{len(self._targets) - 1}].extra"))

    def build(self) -> WindowTable:
        kind, values, cats = encode_targets(self._targets)
        return WindowTable(
            columns={k: np.asarray(v, dtype=np.int64) for k, v in self._cols.items()},
            target_kind=kind,
            target_values=values,
            target_categories=cats,
            extra=self._extra if any(self._extra) else None,
        )
