"""The manifest (``nb-manifest.json``): what an artifact holds and how to check every byte.

Every artifact any neurobridge package writes has a manifest at its root,
written last (atomically), so a directory with a manifest is complete. It
records the schema version, the layout, the writer, the modalities, the
recordings with their BIDS entities, sample counts per split, and the size and
sha256 of every data file.

The JSON is canonical (sorted keys, UTF-8, no NaN): two identical writes
produce identical bytes. Reading validates every field and names the one that
is wrong.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "data.bin").write_bytes(b"abc")
    >>> m = Manifest(name="demo", layout="shards")
    >>> m.add_file(root, "data.bin").size
    3
    >>> _ = m.write(root)
    >>> Manifest.read(root).verify(root)
    >>> Manifest.read(root).files[0].path
    'data.bin'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_core.atomic import atomic_write_bytes, dumps_json
from nb_core.checksums import sha256_file
from nb_core.errors import (
    ChecksumMismatchError,
    ManifestNotFoundError,
    SchemaError,
    SchemaVersionError,
)
from nb_core.layouts import check_layout_name
from nb_core.validation import (
    Fields,
    check_dtype,
    check_json,
    check_modality_name,
    check_relpath,
    load_json,
)

if TYPE_CHECKING:
    from nb_core.schema import Recording

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "FileEntry",
    "Manifest",
    "ModalitySpec",
    "RecordingEntry",
    "find_manifest",
]

#: Version of the manifest schema this nb-core writes and the newest it reads.
SCHEMA_VERSION = 1
#: File name of the manifest at an artifact's root.
MANIFEST_NAME = "nb-manifest.json"
#: Deprecated, not exported: the layout names of the workspace before the layout registry. A
#: manifest may name any layout (:func:`nb_core.layouts.check_layout_name`); the installed ones are
#: :func:`nb_core.layouts.available_layouts`.
LAYOUTS = ("hdf5", "zarr", "parquet", "shards", "hf")


@dataclass
class FileEntry:
    """A data file of the artifact: POSIX path relative to the root, size, sha256.

    Example:
        >>> from nb_core import FileEntry, sha256_bytes
        >>> FileEntry(path="shards/train-000000.tar", size=3, sha256=sha256_bytes(b"abc")).size
        3
    """

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": int(self.size), "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: Any, path: str) -> FileEntry:
        f = Fields(d, path)
        rel = check_relpath(f.string("path"), field=f.sub("path"))
        sha = f.string("sha256")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise SchemaError(f"must be 64 lower-case hex digits; got {sha!r}", field=f.sub("sha256"))
        out = cls(path=rel, size=f.integer("size", minimum=0), sha256=sha)
        f.done()
        return out

    @classmethod
    def from_file(cls, root: str | os.PathLike[str], relpath: str) -> FileEntry:
        """Measure ``root/relpath`` (size and sha256)."""
        check_relpath(relpath, field="file")
        p = Path(root) / relpath
        return cls(path=relpath, size=p.stat().st_size, sha256=sha256_file(p))


_CH_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass
class ModalitySpec:
    """What one modality looks like: dtype, per-sample shape (`None` for a free axis), unit,
    sampling rate, channel names and (optionally) per-channel MNE types and units.

    ``ch_types`` and ``units`` have one entry per channel, in row order (as
    ``ch_names``); ``unit`` is the common unit when all channels share one.

    Example:
        >>> spec = ModalitySpec("float32", [3, 100], sfreq=100.0, ch_names=["MEG 0111", "MEG 0112", "STI 014"],
        ...                     ch_types=["mag", "grad", "stim"], units=["T", "T/m", "V"])
        >>> ModalitySpec.from_dict(spec.to_dict(), "eeg").ch_types
        ['mag', 'grad', 'stim']
    """

    dtype: str
    shape: list[int | None] = field(default_factory=list)
    unit: str | None = None
    sfreq: float | None = None
    ch_names: list[str] | None = None
    ch_types: list[str] | None = None
    units: list[str] | None = None

    @classmethod
    def from_recording(cls, rec: Recording, *, dtype: str, shape: list[int | None]) -> ModalitySpec:
        """The spec of a recording's signals: its sfreq, channel names, types and units (``unit``
        when all channels share one).

        Example:
            >>> import numpy as np
            >>> from nb_core import Channel, Recording
            >>> rec = Recording(id="r", sfreq=100.0, data=np.zeros((2, 10)),
            ...                 channels=[Channel("MEG 0111", "mag", "T"), Channel("STI 014", "stim", "V")])
            >>> spec = ModalitySpec.from_recording(rec, dtype="float32", shape=[2, None])
            >>> spec.unit, spec.units, spec.ch_types
            (None, ['T', 'V'], ['mag', 'stim'])
        """
        units = rec.units
        return cls(
            dtype=dtype,
            shape=list(shape),
            unit=units[0] if units and len(set(units)) == 1 else None,
            sfreq=float(rec.sfreq),
            ch_names=rec.ch_names,
            ch_types=rec.ch_types,
            units=units,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.unit is not None:
            d["unit"] = self.unit
        if self.sfreq is not None:
            d["sfreq"] = float(self.sfreq)
        for k in ("ch_names", "ch_types", "units"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: Any, path: str) -> ModalitySpec:
        f = Fields(d, path)
        shape = f.array("shape")
        for i, s in enumerate(shape):
            if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 0):
                raise SchemaError(
                    f"must be a non-negative integer or null; got {s!r}",
                    field=f"{f.sub('shape')}[{i}]",
                )
        lists: dict[str, list[str] | None] = {}
        for k in ("ch_names", "ch_types", "units"):
            lists[k] = f.strings(k) if f.obj.get(k) is not None else None
        for k in ("ch_types", "units"):
            v, names = lists[k], lists["ch_names"]
            if v is None:
                continue
            if names is not None and len(v) != len(names):
                raise SchemaError(
                    f"has {len(v)} entries but ch_names has {len(names)} (one per channel)", field=f.sub(k)
                )
            for i, x in enumerate(v):
                if k == "ch_types" and not _CH_TYPE.match(x):
                    raise SchemaError(
                        f"{x[:40]!r} is not a channel type (MNE names such as 'eeg', 'mag', 'stim')",
                        field=f"{f.sub(k)}[{i}]",
                    )
                if k == "units" and not 0 < len(x) <= 32:
                    raise SchemaError(f"must be a unit such as 'V'; got {x[:40]!r}", field=f"{f.sub(k)}[{i}]")
        unit = f.opt_string("unit")
        if unit is not None and not 0 < len(unit) <= 32:
            raise SchemaError(f"must be a unit such as 'V'; got {unit[:40]!r}", field=f.sub("unit"))
        out = cls(
            dtype=check_dtype(f.any("dtype"), field=f.sub("dtype")),
            shape=shape,
            unit=unit,
            sfreq=f.opt_number("sfreq", positive=True),
            ch_names=lists["ch_names"],
            ch_types=lists["ch_types"],
            units=lists["units"],
        )
        f.done()
        return out


@dataclass
class RecordingEntry:
    """A recording as listed in the manifest: id, BIDS entities and size facts.

    Example:
        >>> from nb_core import RecordingEntry
        >>> RecordingEntry(id="sub-01", entities={"subject": "01"}, n_times=500, sfreq=100.0, n_channels=2).to_dict()
        {'id': 'sub-01', 'entities': {'subject': '01'}, 'n_times': 500, 'sfreq': 100.0, 'n_channels': 2}
    """

    id: str
    entities: dict[str, str] = field(default_factory=dict)
    n_times: int | None = None
    sfreq: float | None = None
    n_channels: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "entities": dict(self.entities)}
        for k in ("n_times", "sfreq", "n_channels"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    @classmethod
    def from_dict(cls, d: Any, path: str) -> RecordingEntry:
        f = Fields(d, path)
        ents = f.object("entities")
        for k, v in ents.items():
            if not isinstance(v, str):
                raise SchemaError(f"BIDS entity values are strings; got {v!r}", field=f"{path}.entities.{k}")
        rid = f.string("id")
        if not rid or len(rid) > 1024:
            raise SchemaError(
                f"must be a non-empty id of at most 1024 characters; got {rid[:40]!r}", field=f.sub("id")
            )
        out = cls(
            id=rid,
            entities=ents,
            n_times=f.opt_integer("n_times", minimum=0),
            sfreq=f.opt_number("sfreq", positive=True),
            n_channels=f.opt_integer("n_channels", minimum=0),
        )
        f.done()
        return out


@dataclass
class Manifest:
    """The contents of ``nb-manifest.json``.

    Args:
        name (`str`): dataset name.
        layout (`str`): the layout's name (``"shards"``, ``"hdf5"``...; any well-formed name, see
            :mod:`nb_core.layouts`).
        writer (`dict`): ``{"package": "nb-shards", "version": "0.1.0"}``.
        modalities (`dict[str, ModalitySpec]`): by modality name.
        recordings (`list[RecordingEntry]`): source recordings.
        splits (`dict[str, int]`): number of samples per split (``{"train": 1000}``).
        files (`list[FileEntry]`): every data file with size and sha256.
        provenance (`dict`): free JSON: sources, tool versions, command line.
        license (`str`, *optional*): SPDX id or text.
        citation (`str`, *optional*): BibTeX or text.
        description (`str`, *optional*): what the data is, for humans.
        extra (`dict`): free JSON for the layout (shard index names, chunking...).

    Example:
        >>> import tempfile
        >>> from nb_core import Manifest
        >>> m = Manifest(name="demo", layout="shards", splits={"train": 8}, license="cc-by-4.0")
        >>> Manifest.from_json(m.to_json()).splits
        {'train': 8}
        >>> d = tempfile.mkdtemp()
        >>> Manifest.read(m.write(d)).license
        'cc-by-4.0'
    """

    name: str
    layout: str
    writer: dict[str, str] = field(default_factory=dict)
    modalities: dict[str, ModalitySpec] = field(default_factory=dict)
    recordings: list[RecordingEntry] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    files: list[FileEntry] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    citation: str | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # -- derived ----------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Samples over all splits."""
        return sum(self.splits.values())

    @property
    def total_size(self) -> int:
        """Bytes of all data files."""
        return sum(f.size for f in self.files)

    def file(self, relpath: str) -> FileEntry:
        """The entry for ``relpath``; `KeyError` if it is not listed."""
        for f in self.files:
            if f.path == relpath:
                return f
        raise KeyError(relpath)

    # -- building ---------------------------------------------------------------------------------
    def add_file(self, root: str | os.PathLike[str], relpath: str) -> FileEntry:
        """Measure ``root/relpath`` and record it (replacing an earlier entry of that path)."""
        entry = FileEntry.from_file(root, relpath)
        self.add_entry(entry)
        return entry

    def add_entry(self, entry: FileEntry) -> None:
        """Record an already measured file (replacing an earlier entry of that path)."""
        self.files = [f for f in self.files if f.path != entry.path] + [entry]

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest as a JSON-able dict (validated, files sorted by path)."""
        d = {
            "schema_version": self.schema_version,
            "name": self.name,
            "layout": self.layout,
            "writer": dict(self.writer),
            "modalities": {k: v.to_dict() for k, v in self.modalities.items()},
            "recordings": [r.to_dict() for r in self.recordings],
            "splits": dict(self.splits),
            "files": [f.to_dict() for f in sorted(self.files, key=lambda e: e.path)],
            "provenance": check_json(self.provenance, field="manifest.provenance"),
            "license": self.license,
            "citation": self.citation,
            "description": self.description,
            "extra": check_json(self.extra, field="manifest.extra"),
        }
        d = {k: v for k, v in d.items() if v is not None}
        Manifest.from_dict(d)  # one validation path for writing and reading
        return d

    def to_json(self) -> str:
        """Canonical JSON text: the same manifest always gives the same bytes."""
        return dumps_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "manifest") -> Manifest:
        """Validate and build. Errors name the field (``manifest.files[2].sha256``)."""
        f = Fields(d, source)
        version = f.any("schema_version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise SchemaError(f"must be an integer; got {version!r}", field=f.sub("schema_version"))
        if version > SCHEMA_VERSION or version < 1:
            raise SchemaVersionError(
                f"schema version {version} is not supported by this nb-core (reads 1 to {SCHEMA_VERSION}); "
                "upgrade neurobridge: pip install -U nb-core",
                field=f.sub("schema_version"),
            )
        layout = check_layout_name(f.string("layout"), field=f.sub("layout"))
        writer = f.object("writer")
        for k, v in writer.items():
            if not isinstance(v, str):
                raise SchemaError(f"must be a string; got {v!r}", field=f"{f.sub('writer')}.{k}")
        modalities = {}
        for k, v in f.object("modalities").items():
            check_modality_name(k, field=f"{f.sub('modalities')}.{k}")
            modalities[k] = ModalitySpec.from_dict(v, f"{f.sub('modalities')}.{k}")
        splits = {}
        for k, v in f.object("splits").items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SchemaError(
                    f"must be a non-negative integer; got {v!r}", field=f"{f.sub('splits')}.{k}"
                )
            splits[k] = v
        files = [FileEntry.from_dict(x, f"{f.sub('files')}[{i}]") for i, x in enumerate(f.array("files"))]
        seen: set[str] = set()
        for e in files:
            if e.path in seen:
                raise SchemaError(f"file {e.path!r} is listed twice", field=f.sub("files"))
            seen.add(e.path)
        out = cls(
            name=f.string("name"),
            layout=layout,
            writer=writer,
            modalities=modalities,
            recordings=[
                RecordingEntry.from_dict(r, f"{f.sub('recordings')}[{i}]")
                for i, r in enumerate(f.array("recordings"))
            ],
            splits=splits,
            files=files,
            provenance=f.free_json("provenance"),
            license=f.opt_string("license"),
            citation=f.opt_string("citation"),
            description=f.opt_string("description"),
            extra=_check_extra(f.free_json("extra"), f.sub("extra")),
            schema_version=version,
        )
        ids = [r.id for r in out.recordings]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise SchemaError(f"recording id(s) {dup} are listed twice", field=f.sub("recordings"))
        f.done()
        return out

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "manifest") -> Manifest:
        """Parse and validate JSON text (see :func:`nb_core.validation.load_json`).

        Raises:
            CorruptDataError: not UTF-8, not JSON, NaN/Infinity, too deep, huge integers.
            SchemaError: the JSON does not follow the manifest schema (the field is named).
            SchemaVersionError: written by a newer schema version.
        """
        return cls.from_dict(load_json(text, where=source), source=source)

    # -- files ------------------------------------------------------------------------------------
    def write(self, root: str | os.PathLike[str]) -> Path:
        """Write ``root/nb-manifest.json`` atomically (call it last); return its path."""
        path = Path(root) / MANIFEST_NAME
        atomic_write_bytes(path, self.to_json().encode("utf-8"))
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read the manifest of an artifact (its directory, or the manifest file itself).

        Raises:
            ManifestNotFoundError: there is no manifest.
            SchemaError: the manifest is invalid (the field is named).
            SchemaVersionError: the manifest was written by a newer schema.
        """
        mpath = find_manifest(path)
        return cls.from_json(mpath.read_bytes(), source=str(mpath))

    def check_consistency(self) -> None:
        """Check that the manifest agrees with itself (no file access).

        * every file a layout section of ``extra`` names (``path``/``index``, not the
          ``hf_configs`` globs) is listed in ``files`` (so it is checksummed);
        * where ``extra`` lists parts with a ``split`` and an ``n_samples`` (shards), their
          sums per split equal ``splits``;
        * a manifest with samples lists data files, and a layout section of ``extra`` matches
          ``layout``: a section that registered layouts declare as theirs
          (:attr:`nb_core.layouts.Layout.section_name`, e.g. ``nb_shards``) is refused under
          any other layout.

        Raises:
            SchemaError: the first disagreement, naming the field.
        """
        if self.n_samples > 0 and not self.files:
            raise SchemaError(
                f"declares {self.n_samples} samples but lists no data files", field="manifest.files"
            )
        from nb_core.layouts import section_owners

        sections = [k for k, v in self.extra.items() if isinstance(v, dict)]
        owners = section_owners() if sections else {}
        for section in sections:
            layouts = owners.get(section, [self.layout])
            if self.layout not in layouts:
                raise SchemaError(
                    f"layout {self.layout!r} does not match the extra.{section} section "
                    f"(written for {' or '.join(layouts)})",
                    field="manifest.layout",
                )
        listed = {e.path for e in self.files}
        per_split: dict[str, int] = {}
        counted = False
        for fld, key, value in _walk(self.extra, "manifest.extra"):
            if fld.startswith("manifest.extra.hf_configs"):
                continue
            if (
                key in ("path", "index")
                and isinstance(value, str)
                and not _GLOB.search(value)
                and value not in listed
            ):
                raise SchemaError(
                    f"{value!r} is not listed in manifest.files (every data file must be checksummed)",
                    field=fld,
                )
            if (
                isinstance(value, list)
                and value
                and all(
                    isinstance(x, dict) and isinstance(x.get("split"), str) and "n_samples" in x
                    for x in value
                )
            ):
                counted = True
                for x in value:
                    per_split[x["split"]] = per_split.get(x["split"], 0) + int(x["n_samples"])
        if counted:
            for split in sorted(set(per_split) | set(self.splits)):
                declared, found = self.splits.get(split), per_split.get(split, 0)
                if declared != found:
                    raise SchemaError(
                        f"declares {declared} samples but its parts in manifest.extra hold {found}",
                        field=f"manifest.splits.{split}",
                    )

    def verify(
        self, root: str | os.PathLike[str], *, paths: list[str] | None = None, checksums: bool = True
    ) -> None:
        """Check that every listed file (or just ``paths``) exists with its size and sha256.

        A full verify (``paths=None``) first runs :meth:`check_consistency`. With
        ``checksums=False`` only existence and sizes are checked (no file is read): a quick check
        that an artifact is complete, for callers that hash the bytes later anyway.

        Raises:
            SchemaError: the manifest disagrees with itself (an unlisted file, wrong split counts).
            ChecksumMismatchError: a file is missing, or its size or sha256 differs (named).
        """
        base = Path(root)
        if base.is_file():
            base = base.parent
        if paths is None:
            self.check_consistency()
        entries = self.files if paths is None else [self.file(p) for p in paths]
        for e in entries:
            p = base / e.path
            if not p.is_file():
                raise ChecksumMismatchError(f"{p}: listed in the manifest but missing")
            size = p.stat().st_size
            if size != e.size:
                raise ChecksumMismatchError(
                    f"{p}: size {size} bytes, the manifest says {e.size} (truncated or changed)"
                )
            if not checksums:
                continue
            digest = sha256_file(p)
            if digest != e.sha256:
                raise ChecksumMismatchError(
                    f"{p}: sha256 {digest[:16]}… does not match the manifest's {e.sha256[:16]}… "
                    "(the file is corrupted or was changed)"
                )


_PATH_KEYS = ("path", "index", "data_files")
_COUNT_KEYS = ("n_samples", "n_items", "n_times", "n_channels", "size", "tar_size", "offset")
_GLOB = re.compile(r"[*?\[]")


def _check_extra(extra: dict[str, Any], where: str) -> dict[str, Any]:
    """Check the conventions every layout section of ``extra`` follows.

    Every ``path``/``index``/``data_files`` value (a string or a list of them, at any depth) is a
    relative path inside the artifact; counts and sizes (``n_samples``, ``size``, ...) are
    non-negative integers; a ``format_version`` is an integer >= 1.
    """
    for fld, key, value in _walk(extra, where):
        if key in _PATH_KEYS:
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                if isinstance(v, dict) and key == "data_files":
                    continue  # {"split": ..., "path": ...}: its "path" is checked on its own
                check_relpath(v, field=fld if not isinstance(value, list) else f"{fld}[{i}]")
        elif key in _COUNT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SchemaError(f"must be a non-negative integer; got {value!r}", field=fld)
        elif key == "format_version" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SchemaError(f"must be an integer >= 1; got {value!r}", field=fld)
    return extra


def _walk(obj: Any, where: str) -> list[tuple[str, str, Any]]:
    """``(field, key, value)`` of every object member under ``obj`` (depth-first, iterative)."""
    out: list[tuple[str, str, Any]] = []
    stack: list[tuple[Any, str]] = [(obj, where)]
    while stack:
        node, fld = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                out.append((f"{fld}.{k}", k, v))
                stack.append((v, f"{fld}.{k}"))
        elif isinstance(node, list):
            stack.extend((v, f"{fld}[{i}]") for i, v in enumerate(node))
    return out


def find_manifest(path: str | os.PathLike[str]) -> Path:
    """The manifest file of an artifact given its directory, a file in it, or the manifest itself.

    Raises:
        ManifestNotFoundError: none is found.

    Example:
        >>> import tempfile
        >>> from nb_core import Manifest, find_manifest
        >>> d = tempfile.mkdtemp()
        >>> _ = Manifest(name="demo", layout="shards").write(d)
        >>> find_manifest(d).name
        'nb-manifest.json'
    """
    p = Path(path)
    if p.name == MANIFEST_NAME and p.is_file():
        return p
    for cand in (p / MANIFEST_NAME, p.parent / MANIFEST_NAME) if p.is_file() else (p / MANIFEST_NAME,):
        if cand.is_file():
            return cand
    raise ManifestNotFoundError(
        f"{p}: no {MANIFEST_NAME} found; this is not a neurobridge artifact (or it was not finished: "
        "the manifest is written last)"
    )
