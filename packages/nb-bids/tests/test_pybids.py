"""Agreement with pybids: entities and merged metadata of every file equal BIDSLayout's."""

from __future__ import annotations

import json

import pytest

from nb_bids import index
from nb_bids.bidsschema import bids_schema
from nb_bids.discovery import TOP_LEVEL_FILES


def _by_path(t):
    return {r["path"]: r for r in t.to_pylist()}


@pytest.mark.parametrize("derivatives", [False, True])
def test_entities_and_metadata_agree_with_pybids(full_tree, derivatives):
    pytest.importorskip("bids")
    ours = _by_path(index(full_tree, derivatives=derivatives, cache=False))
    theirs = _by_path(index(full_tree, derivatives=derivatives, engine="pybids"))
    # pybids leaves out the top-level files without entities; every file it lists we list too
    assert set(theirs) <= set(ours)
    assert len(theirs) >= len(ours) - 8
    names = bids_schema().entity_names
    compared = 0
    for path, t in theirs.items():
        o = ours[path]
        if path.rsplit("/", 1)[-1] in TOP_LEVEL_FILES:
            continue  # pybids reads "dataset_description.json" as suffix "description"
        for n in names:
            if t.get(n) is not None:
                if n == "run":
                    assert int(o[n]) == int(t[n]), (path, n)
                else:
                    assert o[n] == t[n], (path, n)
        assert (o["suffix"], o["extension"]) == (t["suffix"], t["extension"]), path
        if t["datatype"] is not None:
            assert o["datatype"] == t["datatype"], path
        if t["metadata"] is not None and o["extension"] != ".json":
            assert json.loads(o["metadata"]) == json.loads(t["metadata"]), path
            compared += 1
    assert compared >= 30
