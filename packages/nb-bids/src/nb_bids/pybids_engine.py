"""``index(root, engine="pybids")``: the same table built through ``bids.BIDSLayout``.

For comparisons and agreement tests; pybids is much slower (``pip install pybids``).
Entity names are mapped from pybids' names to the BIDS schema's through each entity's key.

Example:
    >>> import tempfile
    >>> from nb_bids import index
    >>> from nb_bids.testing import make_bids_tree
    >>> root = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, eeg=False, derivatives=False)
    >>> t = index(root, engine="pybids")
    >>> "subject" in t.column_names
    True
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from nb_bids.bidsschema import bids_schema
from nb_core.validation import soft_import

__all__ = ["index_pybids", "pybids_entity_map"]


def pybids_entity_map() -> dict[str, str]:
    """pybids entity name → BIDS schema entity name (``acquisition``, ``inversion``...)."""
    soft_import("bids", "engine='pybids'", extra="pybids")
    from bids.config import get_option

    s = bids_schema()
    out: dict[str, str] = {}
    for cfg in get_option("config_paths").values():
        for ent in json.loads(Path(cfg).read_text())["entities"]:
            m = re.search(r"(\w+)-\(", ent.get("pattern", ""))
            if m and m.group(1) in s.key_to_name:
                out[ent["name"]] = s.key_to_name[m.group(1)]
    return out


def index_pybids(root: Path, *, derivatives: bool = False) -> pa.Table:
    """Index ``root`` with ``bids.BIDSLayout`` into nb-bids' table shape (no participants joins)."""
    soft_import("bids", "engine='pybids'", extra="pybids")
    from bids.layout import BIDSLayout

    names = pybids_entity_map()
    layout = BIDSLayout(str(root), validate=False, derivatives=derivatives)
    rows: list[dict[str, Any]] = []
    for f in layout.get():
        p = Path(f.path)
        if p.is_dir():
            continue
        ents = f.get_entities()
        rel = p.relative_to(root).as_posix()
        row: dict[str, Any] = {"path": rel, "size": p.stat().st_size}
        for k, v in ents.items():
            if k in names:
                row[names[k]] = str(v)
        row["datatype"] = ents.get("datatype")
        row["suffix"] = ents.get("suffix")
        row["extension"] = ents.get("extension")
        if ents.get("extension") != ".json" and ents.get("suffix"):
            meta = f.get_metadata()
            row["metadata"] = json.dumps(dict(meta), sort_keys=True, ensure_ascii=False) if meta else None
        rows.append(row)
    rows.sort(key=lambda r: r["path"])
    cols = ["path", *bids_schema().entity_names, "datatype", "suffix", "extension", "size", "metadata"]
    return pa.table(
        {c: pa.array([r.get(c) for r in rows], pa.int64() if c == "size" else pa.string()) for c in cols}
    )
