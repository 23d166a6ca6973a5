"""Shared input checks: one place for type checks, options, JSON-ability and soft imports.

Every package checks its inputs through these helpers so the same mistake
gets the same clear message everywhere.

Example:
    >>> check_option("hdf5", ("hdf5", "zarr"), name="format")
    'hdf5'
    >>> check_json({"a": [1, 2.5, "x"]}, field="metadata")
    {'a': [1, 2.5, 'x']}
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from nb_core.errors import (
    CorruptDataError,
    DependencyMissingError,
    IndexOutOfRangeError,
    NonFiniteDataError,
    SchemaError,
    UserError,
)

__all__ = [
    "JSON_DECODER",
    "MAX_JSON_DEPTH",
    "MAX_PATH_LENGTH",
    "Fields",
    "check_dtype",
    "check_finite_array",
    "check_index",
    "check_json",
    "check_key",
    "check_modality_name",
    "check_number",
    "check_option",
    "check_relpath",
    "load_json",
    "safe_key",
    "soft_import",
]

#: Deepest nesting :func:`load_json` accepts (lists and objects inside each other).
MAX_JSON_DEPTH = 200
#: Longest relative path (characters) a manifest or index may hold.
MAX_PATH_LENGTH = 1024
_MAX_PATH_PART = 255

_EXTRA_OF = {
    "mne": "nb-core[mne]",
    "mne_bids": "nb-bids[mne]",
    "nibabel": "nb-core[testing]",
    "torch": "nb-shards[torch]",
    "dask": "nb-core[dask]",
    "distributed": "nb-core[dask]",
    "datasets": "nb-hub[datasets]",
    "huggingface_hub": "nb-hub",
    "matplotlib": "nb-hub[plot]",
    "zstandard": "nb-shards[zst]",
    "pynwb": "nb-shards[nwb]",
}


def soft_import(name: str, purpose: str, *, extra: str | None = None) -> ModuleType:
    """Import an optional dependency, or raise an error whose message is the fix.

    Args:
        name (`str`): module to import (``"mne"``).
        purpose (`str`): what it is needed for, shown to the user.
        extra (`str`, *optional*): the pip requirement that brings it
            (``"nb-core[mne]"``); a default is chosen for known modules.

    Raises:
        DependencyMissingError: the module is not installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        req = extra or _EXTRA_OF.get(name.split(".")[0], name)
        raise DependencyMissingError(
            f'{purpose} needs the optional dependency {name!r}: pip install "{req}"'
        ) from err


def check_option(value: Any, allowed: Iterable[Any], *, name: str) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise :class:`UserError`."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise UserError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def _type_name(v: Any) -> str:
    return type(v).__name__


def check_json(value: Any, *, field: str) -> Any:
    """Check that ``value`` is plain JSON with finite numbers; return it with numpy scalars converted.

    Tuples become lists and numpy scalars become Python numbers, so the result
    serialises with :func:`nb_core.atomic.dumps_json`.

    Raises:
        SchemaError: a key is not a string, or a value is not JSON-able.
        NonFiniteDataError: a number is NaN or infinite.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NonFiniteDataError(f"{field}: {value!r} is not a finite number (JSON cannot hold it)")
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SchemaError(f"keys must be strings; got {_type_name(k)} {k!r}", field=field)
            out[k] = check_json(v, field=f"{field}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [check_json(v, field=f"{field}[{i}]") for i, v in enumerate(value)]
    raise SchemaError(
        f"{_type_name(value)} is not JSON-able (use str, int, float, bool, None, list, dict)",
        field=field,
    )


def check_number(value: Any, *, field: str, positive: bool = False) -> float:
    """Check a finite JSON number (int or float, not bool); return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"must be a number; got {_type_name(value)} {value!r}", field=field)
    if not math.isfinite(value):
        raise NonFiniteDataError(f"{field}: {value!r} is not a finite number")
    if positive and value <= 0:
        raise SchemaError(f"must be > 0; got {value}", field=field)
    return float(value)


def check_finite_array(array: np.ndarray, *, what: str, channel_names: list[str] | None = None) -> None:
    """Raise :class:`NonFiniteDataError` naming the first channel and sample with NaN/Inf.

    Args:
        array (`np.ndarray`): signals, channels first.
        what (`str`): where the data comes from (recording id, file name).
        channel_names (`list[str]`, *optional*): names for the first axis.
    """
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = np.argwhere(~finite)[0]
    n_bad = int((~finite).sum())
    where = f"channel {bad[0]}" if array.ndim >= 1 else "value"
    if channel_names is not None and array.ndim >= 1 and bad[0] < len(channel_names):
        where = f"channel {channel_names[bad[0]]!r}"
    at = f", sample {bad[1]}" if array.ndim >= 2 else ""
    raise NonFiniteDataError(
        f"{what}: {n_bad} non-finite value(s) (NaN/Inf), first in {where}{at}; "
        "clean the data or pass allow_nonfinite=True to keep them"
    )


_KEY_BAD = re.compile(r"[\x00-\x1f\\.]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MODALITY = re.compile(r"^[a-z][a-z0-9_]*$")


def check_key(key: Any, *, field: str = "key") -> str:
    """Check a sample key: non-empty text without dots, backslashes, control characters or ``..``.

    Keys become file names in tar shards (``{key}.{modality}.npy``), so a dot
    would change how WebDataset readers split the name.
    """
    if not isinstance(key, str) or not key:
        raise SchemaError(f"must be a non-empty string; got {key!r}", field=field)
    if _KEY_BAD.search(key) or key.startswith("/") or ".." in key.split("/"):
        raise SchemaError(
            f"{key!r} is not a valid sample key: no '.', '\\\\', control characters, "
            "leading '/' or '..' parts",
            field=field,
        )
    return key


_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_-]+")


def safe_key(text: str, *, replacement: str = "_", default: str = "x") -> str:
    """Turn any text (a file name, a recording id) into a valid sample key part.

    Every run of characters other than ASCII letters, digits, ``_`` and ``-``
    becomes ``replacement``; leading and trailing ``replacement`` characters are
    dropped; empty text gives ``default``. The result always passes
    :func:`check_key` (and contains no ``/``).

    Args:
        text (`str`): the text to make key-safe.
        replacement (`str`, *optional*, defaults to ``"_"``): what replaces each unsafe run
            (``"_"`` or ``"-"``).
        default (`str`, *optional*, defaults to ``"x"``): the result when nothing is left.

    Example:
        >>> safe_key("sub-01_task-rest.run 1")
        'sub-01_task-rest_run_1'
        >>> safe_key("sub-01.edf", replacement="-")
        'sub-01-edf'
        >>> safe_key("...", default="item")
        'item'
    """
    if replacement and _UNSAFE_RUN.search(replacement):
        raise UserError(f"replacement must be letters, digits, '_' or '-'; got {replacement!r}")
    out = _UNSAFE_RUN.sub(replacement, str(text))
    if replacement:
        out = out.strip(replacement)
    return out or default


def check_index(i: Any, n: int, *, what: str = "item", where: str | None = None) -> int:
    """Check an index into ``n`` items; return it as a non-negative ``int``.

    Python ints and NumPy integers are accepted; negative indices count from the
    end, as for lists.

    Args:
        i: the index.
        n (`int`): how many items there are.
        what (`str`, *optional*, defaults to ``"item"``): what is indexed (``"sample"``,
            ``"window"``, ``"recording"``), named in errors.
        where (`str`, *optional*): the dataset (a path), named in errors.

    Raises:
        UserError: ``i`` is a bool or not an integer.
        IndexOutOfRangeError: ``i`` is outside ``-n .. n-1`` (also an ``IndexError``, so
            ``for`` loops over ``ds[i]`` stop on it).

    Example:
        >>> check_index(-1, 10, what="sample")
        9
        >>> check_index(10, 10, what="sample")
        Traceback (most recent call last):
        ...
        nb_core.errors.IndexOutOfRangeError: sample index 10 is out of range for 10 samples
    """
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise UserError(f"{what} index must be an integer; got {_type_name(i)} {i!r}"[:200])
    k = int(i)
    if k < 0:
        k += n
    if not 0 <= k < n:
        place = f" in {where}" if where else ""
        raise IndexOutOfRangeError(f"{what} index {int(i)} is out of range for {n} {what}s{place}")
    return k


def check_modality_name(name: Any, *, field: str = "modality") -> str:
    """Check a modality name: lower-case letters, digits and ``_``, starting with a letter."""
    if not isinstance(name, str) or not _MODALITY.match(name):
        raise SchemaError(
            f"{name!r} is not a valid modality name (lower-case letters, digits, '_'; e.g. 'eeg')",
            field=field,
        )
    return name


def check_relpath(path: Any, *, field: str) -> str:
    """Check a relative POSIX path that stays inside its root.

    Refused: absolute paths, ``..`` or empty parts, backslashes, a drive (``c:``),
    control characters, more than :data:`MAX_PATH_LENGTH` characters or a part
    longer than 255 characters.

    Example:
        >>> check_relpath("shards/train-000000.tar", field="files[0].path")
        'shards/train-000000.tar'
    """
    if not isinstance(path, str) or not path:
        raise SchemaError(f"must be a non-empty relative path; got {path!r}", field=field)
    if len(path) > MAX_PATH_LENGTH:
        raise SchemaError(
            f"path of {len(path)} characters is longer than the {MAX_PATH_LENGTH} allowed "
            f"(starts {path[:40]!r})",
            field=field,
        )
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or ".." in parts
        or "" in parts
        or "." in parts
        or ":" in parts[0]
        or _CONTROL.search(path)
    ):
        raise SchemaError(f"{path!r} must be a relative POSIX path inside the artifact", field=field)
    if max(len(p) for p in parts) > _MAX_PATH_PART:
        raise SchemaError(f"a part of {path[:60]!r}… is longer than {_MAX_PATH_PART} characters", field=field)
    return path


def check_dtype(value: Any, *, field: str) -> str:
    """Check a NumPy dtype string (``"float32"``, ``"<f4"``, ``"int64"``, ``"<U8"``); return it.

    Object and structured dtypes are refused (they cannot be stored without pickle).

    Example:
        >>> check_dtype("float32", field="modalities.eeg.dtype")
        'float32'
    """
    if not isinstance(value, str) or not value or len(value) > 64:
        raise SchemaError(f"must be a NumPy dtype string such as 'float32'; got {value!r}", field=field)
    try:
        dt = np.dtype(value)
    except (TypeError, ValueError, SyntaxError):
        raise SchemaError(
            f"{value!r} is not a NumPy dtype (use e.g. 'float32', '<f4', 'int64')", field=field
        ) from None
    if dt.hasobject or dt.kind in "OV" or dt.fields is not None or dt.subdtype is not None:
        raise SchemaError(
            f"dtype {value!r} cannot be stored without pickle; use a plain numeric dtype", field=field
        )
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (non-finite numbers are not allowed)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:40]} is out of the float range (non-finite numbers are not allowed)")
    return v


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {dup[:80]!r} appears twice in one object")
    return out


def _max_depth(text: str) -> int:
    """Deepest nesting of *valid* JSON ``text``, vectorised.

    Escaped backslashes, then escaped quotes, are dropped (backslashes occur only inside strings),
    so every remaining ``"`` delimits a string; brackets outside strings (an even number of quotes
    before them) are counted up and down. UTF-8 continuation bytes never equal ASCII brackets.
    """
    raw = np.frombuffer(text.replace("\\\\", "").replace('\\"', "").encode("utf-8"), dtype=np.uint8)
    quotes = np.flatnonzero(raw == ord('"'))
    opens = np.flatnonzero((raw == ord("[")) | (raw == ord("{")))
    closes = np.flatnonzero((raw == ord("]")) | (raw == ord("}")))
    # A bracket is outside every string when an even number of quotes precede it.
    opens = opens[np.searchsorted(quotes, opens) % 2 == 0]
    closes = closes[np.searchsorted(quotes, closes) % 2 == 0]
    if not opens.size:
        return 0
    pos = np.concatenate([opens, closes])
    step = np.concatenate([np.ones(opens.size, np.int64), -np.ones(closes.size, np.int64)])
    return int(np.cumsum(step[np.argsort(pos, kind="stable")]).max())


#: The decoder of :func:`load_json` (every refusal but the depth limit, which callers of its
#: ``raw_decode`` bound themselves, e.g. by counting brackets): for hot paths that decode many
#: small documents and report failures through :func:`load_json`.
JSON_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_no_duplicates
)


def load_json(data: bytes | bytearray | memoryview | str, *, where: str) -> Any:
    """Parse untrusted JSON (a manifest, an index, a sample's metadata) safely.

    The one JSON parser of neurobridge: whatever the bytes, it returns plain JSON
    values or raises :class:`~nb_core.errors.CorruptDataError` whose message
    starts with ``where``. Refused: bytes that are not UTF-8, malformed JSON,
    ``NaN``/``Infinity`` literals and numbers out of the float range, integers
    over Python's digit limit, the same key twice in an object, and nesting
    deeper than :data:`MAX_JSON_DEPTH`.

    Args:
        data (`bytes` or `str`): the JSON text.
        where (`str`): what is being read (a file path, ``"shard 3 index"``), named in errors.

    Example:
        >>> load_json(b'{"a": [1, 2.5]}', where="demo.json")
        {'a': [1, 2.5]}
        >>> load_json("[1, NaN]", where="demo.json")
        Traceback (most recent call last):
        ...
        nb_core.errors.CorruptDataError: demo.json: not valid JSON: NaN is not valid JSON (non-finite numbers are not allowed)
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorruptDataError(
                f"{where}: not UTF-8 text (invalid byte at offset {err.start}); the file is corrupt"
            ) from None
    elif isinstance(data, str):
        text = data
    else:
        raise UserError(f"{where}: JSON must be given as bytes or str; got {_type_name(data)}")
    try:
        obj = JSON_DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise CorruptDataError(
            f"{where}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    except RecursionError:
        raise CorruptDataError(
            f"{where}: not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as err:  # NaN, out-of-range numbers, >4300-digit integers, duplicate keys
        msg = str(err)
        if "digits" in msg and "integer" in msg:
            msg = f"an integer has more than {sys.get_int_max_str_digits()} digits"
        raise CorruptDataError(f"{where}: not valid JSON: {msg[:200]}") from None
    if (text.count("[") + text.count("{")) > MAX_JSON_DEPTH and _max_depth(text) > MAX_JSON_DEPTH:
        raise CorruptDataError(f"{where}: not valid JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
    return obj


class Fields:
    """Typed, path-aware access to a JSON object being validated.

    Each getter names the full field path in its error, and :meth:`done`
    rejects unknown keys, so a typo in a manifest is reported where it is.

    Example:
        >>> f = Fields({"name": "x", "size": 3}, "entry")
        >>> f.string("name"), f.integer("size"), f.opt_string("license")
        ('x', 3, None)
        >>> f.done()
    """

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, Mapping):
            raise SchemaError(f"must be an object; got {_type_name(obj)}", field=path)
        self.obj = obj
        self.path = path
        self._seen: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}"

    def _fail(self, key: str, msg: str) -> NoReturn:
        raise SchemaError(msg, field=self.sub(key))

    def _get(self, key: str, required: bool) -> Any:
        self._seen.add(key)
        if key not in self.obj or self.obj[key] is None:
            if required:
                self._fail(key, "is required but missing")
            return None
        return self.obj[key]

    def any(self, key: str, *, required: bool = True) -> Any:
        return self._get(key, required)

    def string(self, key: str) -> str:
        v = self._get(key, True)
        if not isinstance(v, str):
            self._fail(key, f"must be a string; got {_type_name(v)} {v!r}")
        return v

    def opt_string(self, key: str) -> str | None:
        v = self._get(key, False)
        if v is not None and not isinstance(v, str):
            self._fail(key, f"must be a string; got {_type_name(v)} {v!r}")
        return v

    def integer(self, key: str, *, minimum: int | None = None) -> int:
        v = self._get(key, True)
        return self._check_int(key, v, minimum)

    def opt_integer(self, key: str, *, minimum: int | None = None) -> int | None:
        v = self._get(key, False)
        return None if v is None else self._check_int(key, v, minimum)

    def _check_int(self, key: str, v: Any, minimum: int | None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self._fail(key, f"must be an integer; got {_type_name(v)} {v!r}")
        if minimum is not None and v < minimum:
            self._fail(key, f"must be >= {minimum}; got {v}")
        return v

    def number(self, key: str, *, positive: bool = False) -> float:
        v = self._get(key, True)
        return self._check_float(key, v, positive)

    def opt_number(self, key: str, *, positive: bool = False) -> float | None:
        v = self._get(key, False)
        return None if v is None else self._check_float(key, v, positive)

    def _check_float(self, key: str, v: Any, positive: bool) -> float:
        return check_number(v, field=self.sub(key), positive=positive)

    def boolean(self, key: str, *, default: bool = False) -> bool:
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, bool):
            self._fail(key, f"must be true or false; got {v!r}")
        return v

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        v = self._get(key, required)
        if v is None:
            return []
        if not isinstance(v, list):
            self._fail(key, f"must be a list; got {_type_name(v)}")
        return v

    def strings(self, key: str, *, required: bool = False) -> list[str]:
        items = self.array(key, required=required)
        for i, s in enumerate(items):
            if not isinstance(s, str):
                raise SchemaError(
                    f"must be a string; got {_type_name(s)} {s!r}", field=f"{self.sub(key)}[{i}]"
                )
        return list(items)

    def object(self, key: str, *, required: bool = False) -> dict[str, Any]:
        v = self._get(key, required)
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            self._fail(key, f"must be an object; got {_type_name(v)}")
        return dict(v)

    def free_json(self, key: str) -> dict[str, Any]:
        """An object of free JSON (checked JSON-able and finite)."""
        return check_json(self.object(key), field=self.sub(key))

    def done(self) -> None:
        unknown = sorted(set(self.obj) - self._seen)
        if unknown:
            raise SchemaError(f"unknown field(s) {', '.join(map(repr, unknown))}", field=self.path)
