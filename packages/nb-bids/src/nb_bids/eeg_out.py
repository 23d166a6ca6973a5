"""EEG/MEG/iEEG of a conversion as nb-shards or nb-formats artifacts (``to="shards"|"formats"``).

The conversion units write their recordings as Parquet segments (the ``eeg`` config of the
default output); with ``to="shards"`` or ``to="formats"`` these segments are streamed, one
recording at a time, into

- ``eeg/``: one nb-shards artifact (``nb_shards.ShardWriter``), one sample per segment, a split per
  conversion split; the sample's JSON holds the BIDS entities, ``path``, channels, ``sfreq``,
  events and the BIDS tables; or
- ``eeg/<split>/``: one nb-formats artifact per split (``nb_formats.write``, ``hdf5``, ``zarr`` or
  ``parquet``), one continuous recording per BIDS recording, with its entities in
  ``Recording.entities`` and the rest in ``Recording.extra``;

and the Parquet segments are removed. Only the public APIs of nb-shards and nb-formats are used.

Example:
    >>> import tempfile, pathlib
    >>> from nb_bids import convert
    >>> from nb_bids.testing import make_bids_tree
    >>> src = make_bids_tree(tempfile.mkdtemp(), n_subjects=1, sessions=None, anat=False, func=False,
    ...                      dwi=False, derivatives=False, eeg_formats=("EDF",))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> report = convert(src, out, to="shards", max_workers=0)
    >>> import nb_shards
    >>> s = next(iter(nb_shards.ShardDataset(out / "eeg")))
    >>> s["eeg"].shape, s["json"]["subject"], s["json"]["task"]
    ((8, 400), '01', 'rest')
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from nb_core.atomic import remove_path
from nb_core.errors import UserError
from nb_core.validation import safe_key, soft_import

__all__ = ["TARGETS", "check_target", "emit_eeg"]

#: Where EEG/MEG/iEEG recordings go: Parquet rows (``hf``), nb-shards, or nb-formats files.
TARGETS = ("hf", "shards", "formats")
#: nb-formats layouts (``nb_formats.FORMATS``).
FORMATS = ("hdf5", "zarr", "parquet")
_JSON_COLUMNS = ("events", "channels_tsv", "events_tsv", "electrodes_tsv", "metadata")
_SIGNAL_COLUMNS = ("signal", "ch_names", "ch_types", "units", "sfreq", "segment", "start_sample", "n_times")


def check_target(to: str, fmt: str | None) -> None:
    """Refuse bad ``to``/``format`` options and missing packages before anything is written.

    Example:
        >>> check_target("hf", None)
        >>> check_target("formats", "csv")
        Traceback (most recent call last):
        ...
        nb_core.errors.UserError: format must be one of hdf5, zarr, parquet with to='formats' (--format); got 'csv'
    """
    if to not in TARGETS:
        raise UserError(f"to must be one of {', '.join(TARGETS)} (--to); got {to!r}")
    if to == "formats":
        if fmt not in FORMATS:
            raise UserError(
                f"format must be one of {', '.join(FORMATS)} with to='formats' (--format); got {fmt!r}"
            )
        soft_import("nb_formats", "Writing EEG as nb-formats files (--to formats)", extra="nb-bids[formats]")
    elif fmt is not None:
        raise UserError(f"format={fmt!r} (--format) needs to='formats' (--to formats)")
    if to == "shards":
        soft_import("nb_shards", "Writing EEG as nb-shards (--to shards)", extra="nb-bids[shards]")


def _record_key(row: dict[str, Any]) -> str:
    """A recording's name: its file name without extension, prefixed by its derivative pipeline."""
    stem = str(row["path"]).rstrip("/").rsplit("/", 1)[-1]
    stem = stem[: -len(row["extension"].rstrip("/"))] if row.get("extension") else stem
    return safe_key((f"{row['derivative']}_" if row.get("derivative") else "") + stem)


def _segments(files: list[Path]) -> Iterator[dict[str, Any]]:
    """The Parquet segment rows of ``files`` in order, one at a time, with ``signal`` as an array."""
    for f in files:
        pf = pq.ParquetFile(f)
        for i in range(pf.num_row_groups):
            table = pf.read_row_group(i)
            sig = table.column("signal")
            rest = table.drop_columns(["signal"]).to_pylist()
            for j, row in enumerate(rest):
                cell = sig[j]
                n_ch = len(cell)
                flat = (
                    cell.values.flatten().to_numpy(zero_copy_only=False) if n_ch else np.zeros(0, np.float32)
                )
                row["signal"] = np.ascontiguousarray(flat, dtype=np.float32).reshape(
                    n_ch, int(row["n_times"])
                )
                yield row


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _sample_json(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON of one shard sample: entities (as keys: ``subject``, ``task``...) and everything
    about the segment but the signal."""
    out: dict[str, Any] = {k: v for k, v in row.items() if k != "signal" and v is not None}
    for k in _JSON_COLUMNS:
        if k in out:
            out[k] = json.loads(out[k])
    return out


def _modality(datatypes: set[str]) -> str:
    return next(iter(datatypes)) if len(datatypes) == 1 else "signal"


def _by_split(results: list[dict[str, Any]], out: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for res in sorted(results, key=lambda r: r["unit"]):
        for rel in res["shards"]:
            if rel.startswith("data/eeg/"):
                files.setdefault(res["split"], []).append(out / rel)
    return files


def emit_eeg(
    out: Path,
    results: list[dict[str, Any]],
    *,
    to: str,
    fmt: str | None,
    ent_cols: list[str],
    name: str,
    datatypes: set[str],
) -> dict[str, Any]:
    """Write the EEG segments of ``results`` as nb-shards or nb-formats; return what was written.

    Returns ``{"to", "format", "path", "rows": {split: n}, "files": [relative paths]}``; the
    Parquet segments are left for the caller to remove (they are no longer listed anywhere).
    """
    target = out / "eeg"
    remove_path(target)  # a previous, unfinished attempt
    per_split = _by_split(results, out)
    if not per_split:
        return {"to": to, "format": fmt, "path": None, "rows": {}, "files": []}
    if to == "shards":
        rows = _write_shards(target, per_split, ent_cols, name, _modality(datatypes))
    else:
        assert fmt is not None
        rows = _write_formats(target, per_split, ent_cols, name, fmt)
    files = sorted(p.relative_to(out).as_posix() for p in target.rglob("*") if p.is_file())
    return {"to": to, "format": fmt, "path": "eeg", "rows": rows, "files": files}


def _write_shards(
    target: Path, per_split: dict[str, list[Path]], ent_cols: list[str], name: str, modality: str
) -> dict[str, int]:
    import nb_shards

    rows: dict[str, int] = {}
    spec = {modality: {"dtype": "float32", "shape": [None, None]}}
    for split, files in sorted(per_split.items()):
        with nb_shards.ShardWriter(target, split=split, name=name, modalities=spec, max_count=1000) as w:
            for row in _segments(files):
                key = f"{_record_key(row)}_seg{int(row['segment']):05d}"
                w.write({"__key__": key, f"{modality}.npy": row["signal"], "json": _sample_json(row)})
        rows[split] = w.n_samples
    return rows


def _recordings(files: list[Path], ent_cols: list[str], counter: list[int]) -> Iterator[Any]:
    """One `nb_core.Recording` per BIDS recording (its segments joined), one at a time."""
    from nb_core import Annotation, Channel, Recording

    def build(parts: list[dict[str, Any]]) -> Any:
        first = parts[0]
        data = np.concatenate([p["signal"] for p in parts], axis=1) if len(parts) > 1 else first["signal"]
        extra = {k: v for k, v in first.items() if k not in _SIGNAL_COLUMNS and k not in ent_cols}
        for k in _JSON_COLUMNS:
            if k in extra:
                extra[k] = _json_or_none(extra[k])
        events = extra.pop("events", None) or []
        counter[0] += 1
        return Recording(
            id=_record_key(first),
            sfreq=float(first["sfreq"]),
            channels=[
                Channel(n, t, u)
                for n, t, u in zip(first["ch_names"], first["ch_types"], first["units"], strict=True)
            ],
            data=data,
            annotations=[Annotation(e["onset"], e["duration"], e["description"]) for e in events],
            entities={k: str(first[k]) for k in ent_cols if first.get(k) is not None},
            extra={k: v for k, v in extra.items() if v is not None},
        )

    parts: list[dict[str, Any]] = []
    for row in _segments(files):
        if parts and row["path"] != parts[0]["path"]:
            yield build(parts)
            parts = []
        parts.append(row)
    if parts:
        yield build(parts)


def _write_formats(
    target: Path, per_split: dict[str, list[Path]], ent_cols: list[str], name: str, fmt: str
) -> dict[str, int]:
    import nb_formats

    rows: dict[str, int] = {}
    for split, files in sorted(per_split.items()):
        counter = [0]
        nb_formats.write(
            _recordings(files, ent_cols, counter),
            target / split,
            format=fmt,
            name=f"{name} ({split})",
            allow_nonfinite=True,  # kept as the recording has them (the `eeg` config keeps them too)
            show_progress=False,
        )
        rows[split] = counter[0]
    return rows
