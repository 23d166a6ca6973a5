"""Safe JSON parsing of untrusted bytes (index sidecars, sample metadata, manifests).

Uses ``nb_core.validation.load_json`` when this nb-core has it; otherwise an equivalent
local check: not UTF-8, nesting too deep, integers too large or any other parse failure
become a :class:`~nb_core.errors.CorruptDataError` naming ``where``.

Example:
    >>> load_json(b'{"a": [1, 2]}', where="demo")
    {'a': [1, 2]}
"""

from __future__ import annotations

import json
from typing import Any

from nb_core.errors import CorruptDataError

__all__ = ["MAX_DEPTH", "load_json"]

#: Deepest nesting accepted (arrays and objects).
MAX_DEPTH = 64

try:  # pragma: no cover - depends on the nb-core version
    from nb_core.validation import load_json as _core_load_json  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _core_load_json = None


def _depth_ok(text: str) -> bool:
    depth = 0
    deepest = 0
    in_str = False
    esc = False
    # Quick scan only when brackets could be deep (most documents are shallow).
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return True
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(data: bytes | bytearray | memoryview | str, *, where: str) -> Any:
    """Parse JSON from untrusted bytes; any failure is a `CorruptDataError` naming ``where``.

    Raises:
        CorruptDataError: not UTF-8, not JSON, nested deeper than `MAX_DEPTH`, an integer
            with too many digits, or ``NaN``/``Infinity``.
    """
    if _core_load_json is not None:
        try:
            return _core_load_json(bytes(data) if isinstance(data, memoryview) else data, where=where)
        except TypeError:  # an older signature
            pass
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8", "strict")
    except UnicodeDecodeError as err:
        raise CorruptDataError(f"{where}: not UTF-8 text ({err})") from None
    if not _depth_ok(text):
        raise CorruptDataError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels; refused")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError, TypeError) as err:
        msg = str(err)
        if len(msg) > 200:
            msg = msg[:200] + "..."
        raise CorruptDataError(f"{where}: not valid JSON ({msg})") from None
