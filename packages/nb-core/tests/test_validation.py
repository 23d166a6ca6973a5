from __future__ import annotations

import json

import numpy as np
import pytest

from nb_core.errors import DependencyMissingError, NonFiniteDataError, SchemaError, UserError
from nb_core.validation import (
    Fields,
    check_finite_array,
    check_json,
    check_option,
    check_relpath,
    soft_import,
)


def test_soft_import_message_is_the_fix() -> None:
    assert soft_import("json", "x").dumps([]) == "[]"
    with pytest.raises(DependencyMissingError, match=r'pip install "nb-x\[y\]"'):
        soft_import("surely_not_installed_pkg", "Doing X", extra="nb-x[y]")
    with pytest.raises(ImportError):
        soft_import("surely_not_installed_pkg", "Doing X")


def test_check_option() -> None:
    assert check_option("a", ["a", "b"], name="mode") == "a"
    with pytest.raises(UserError, match="mode must be one of 'a', 'b'; got 'c'"):
        check_option("c", ["a", "b"], name="mode")


def test_check_json() -> None:
    assert check_json({"a": (1, np.int64(2), np.float32(0.5))}, field="m") == {"a": [1, 2, 0.5]}
    with pytest.raises(NonFiniteDataError, match=r"m.a\[1\]"):
        check_json({"a": [1, float("-inf")]}, field="m")
    with pytest.raises(SchemaError, match="bytes is not JSON-able"):
        check_json({"a": b"x"}, field="m")


def test_check_finite_array_names_channel() -> None:
    x = np.zeros((3, 10))
    check_finite_array(x, what="rec")
    x[2, 7] = np.inf
    with pytest.raises(NonFiniteDataError, match="rec: 1 non-finite value.*channel 'O1', sample 7"):
        check_finite_array(x, what="rec", channel_names=["Fp1", "Cz", "O1"])
    check_finite_array(np.zeros(3, dtype=np.int16), what="ints")


@pytest.mark.parametrize("bad", ["../a", "/a", "a/../b", "a\\b", "", "C:/x", "a//b"])
def test_check_relpath(bad: str) -> None:
    with pytest.raises(SchemaError):
        check_relpath(bad, field="f")


def test_fields() -> None:
    f = Fields({"a": 1, "b": True, "c": [1]}, "obj")
    assert f.integer("a") == 1
    with pytest.raises(SchemaError, match="obj.b: must be an integer"):
        f.integer("b")
    with pytest.raises(SchemaError, match=r"obj: unknown field\(s\) 'c'"):
        f.done()
    with pytest.raises(SchemaError, match="obj: must be an object; got list"):
        Fields([], "obj")


def test_load_json_refuses_hostile_input() -> None:
    from nb_core.errors import CorruptDataError
    from nb_core.validation import MAX_JSON_DEPTH, load_json

    assert load_json(b'{"a": [1, 2.5, "\xc3\xa9"]}', where="x.json") == {"a": [1, 2.5, "é"]}
    deepest: list = []
    for _ in range(MAX_JSON_DEPTH - 1):
        deepest = [deepest]
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, where="x") == deepest
    # Brackets and escaped quotes inside strings do not count as nesting.
    tricky = ["[" * 500 + '\\"{{', {"k\\\\": "]" * 300}, "é" + "{" * 300]
    assert load_json(json.dumps(tricky, ensure_ascii=False), where="x") == tricky
    cases = {
        b"\xff": "not UTF-8",
        b"{": "line 1 column 2",
        b"[" * 100_000: "nested deeper",
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1): "nested deeper",
        b"9" * 5000: "more than 4300 digits",
        b"[NaN]": "NaN",
        b"-Infinity": "Infinity",
        b"[1e999]": "out of the float range",
        b'{"k": 1, "k": 2}': "twice",
    }
    for text, msg in cases.items():
        with pytest.raises(CorruptDataError, match=msg) as info:
            load_json(text, where="shard-3.idx")
        assert str(info.value).startswith("shard-3.idx: ")


def test_check_dtype_and_relpath_limits() -> None:
    from nb_core.validation import check_dtype

    assert check_dtype("<f4", field="d") == "<f4"
    for bad in ("not-a-dtype", "O", "f4,f4", "", None, "(2,)f4"):
        with pytest.raises(SchemaError, match="d:"):
            check_dtype(bad, field="d")
    assert check_relpath("a/b.tar", field="p") == "a/b.tar"
    for bad in ("x" * 5000, "a/" + "b" * 300, "a\nb", "a/./b"):
        with pytest.raises(SchemaError, match="p:"):
            check_relpath(bad, field="p")
