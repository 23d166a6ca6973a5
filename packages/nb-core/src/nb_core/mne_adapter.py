"""MNE adapters: an ``mne.io.Raw`` to a :class:`~nb_core.schema.Recording` and back, losslessly.

Kept: signals (float64 by default, exactly as ``raw.get_data()`` returns them),
sfreq, first_samp, channel names/types/units/locations (and MEG coil types),
digitisation (montage, fiducials, head shape), measurement date, annotations
(onset, duration, description, per-channel names, orig_time), bads,
``info['description']``, experimenter, line frequency, filter band and
subject info. Needs the ``mne`` extra (``pip install "nb-core[mne]"``).

Example:
    >>> from nb_core.testing import simulate_raw
    >>> raw = simulate_raw(n_channels=4, duration=1.0)
    >>> rec = recording_from_mne(raw, id="demo")
    >>> back = recording_to_mne(rec)
    >>> bool((back.get_data() == raw.get_data()).all())
    True
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
import re
import struct
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_core.errors import IncompatibleDataError, NBError
from nb_core.schema import Annotation, Channel, DigPoint, Provenance, Recording
from nb_core.validation import check_json, soft_import

#: What MNE raises when it refuses a value or cannot decode measurement-info bytes: the
#: ordinary error classes of its (and NumPy's) code, never ``KeyboardInterrupt`` or ``MemoryError``.
_MNE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RuntimeError,
    OSError,
    EOFError,
    AssertionError,
    struct.error,
)

if TYPE_CHECKING:
    import mne

__all__ = [
    "info_from_fif",
    "info_to_fif",
    "is_mne_input",
    "modality_of",
    "parse_reader_options",
    "read_raw",
    "recording_from_mne",
    "recording_id",
    "recording_to_mne",
    "source_path",
]

# FIFF unit codes <-> SI names (mne._fiff.constants.FIFF.FIFF_UNIT_*).
_UNIT_NAMES = {
    107: "V",
    112: "T",
    201: "T/m",
    202: "Am",
    1: "m",
    3: "s",
    4: "A",
    101: "Hz",
    114: "°C",
    0: "unitless",
    -1: "NA",
    7: "rad",
    103: "Pa",
    109: "Ohm",
    111: "Wb",
    2: "kg",
    5: "K",
    210: "px",
    117: "V/m²",
    108: "F",
    113: "H",
    105: "W",
}
_UNIT_CODES = {v: k for k, v in _UNIT_NAMES.items()}
# FIFFV_POINT_* and FIFFV_COORD_* codes <-> names.
_DIG_KINDS = {1: "cardinal", 2: "hpi", 3: "eeg", 4: "extra", 5: "head"}
_DIG_CODES = {v: k for k, v in _DIG_KINDS.items()}
_FRAMES = {
    0: "unknown",
    1: "meg",
    2: "isotrak",
    3: "hpi",
    4: "head",
    5: "mri",
    6: "mri_slice",
    7: "mri_display",
    8: "dicom_device",
    9: "imaging_device",
}
_FRAME_CODES = {v: k for k, v in _FRAMES.items()}


def _mne() -> Any:
    return soft_import("mne", "Converting to and from MNE", extra="nb-core[mne]")


def _unit_name(code: int) -> str:
    return _UNIT_NAMES.get(int(code), f"fiff:{int(code)}")


def _unit_code(name: str) -> int:
    if name in _UNIT_CODES:
        return _UNIT_CODES[name]
    if name.startswith("fiff:"):
        return int(name[5:])
    raise IncompatibleDataError(f"unit {name!r} has no MNE (FIFF) equivalent; known: {sorted(_UNIT_CODES)}")


def _to_json_value(v: Any) -> Any:
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _iso(dt: _dt.datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.UTC)
    return dt.astimezone(_dt.UTC).isoformat()


def _from_iso(text: str | None) -> _dt.datetime | None:
    return None if text is None else _dt.datetime.fromisoformat(text)


def _channels_of(info: Any) -> list[Channel]:
    channels = []
    for ch, ch_type in zip(info["chs"], info.get_channel_types(), strict=True):
        loc = [None if not np.isfinite(v) else float(v) for v in np.asarray(ch["loc"], dtype=float)]
        channels.append(
            Channel(
                name=ch["ch_name"],
                type=ch_type,
                unit=_unit_name(ch["unit"]),
                loc=None if all(v is None for v in loc) else loc,
                coil_type=int(ch["coil_type"]),
                unit_mul=int(ch["unit_mul"]),
            )
        )
    return channels


def _dig_of(info: Any) -> list[DigPoint]:
    return [
        DigPoint(
            kind=_DIG_KINDS.get(int(p["kind"]), str(int(p["kind"]))),
            ident=int(p["ident"]),
            r=[float(v) for v in p["r"]],
            coord_frame=_FRAMES.get(int(p["coord_frame"]), str(int(p["coord_frame"]))),
        )
        for p in info.get("dig") or []
    ]


def _scalars_of(info: Any) -> dict[str, Any]:
    """The readable info fields a Recording holds beside channels and dig, in its JSON form."""
    subject_info = info.get("subject_info")
    if subject_info is not None:
        subject_info = check_json(
            {k: _to_json_value(v) for k, v in subject_info.items()}, field="subject_info"
        )
    return {
        "sfreq": float(info["sfreq"]),
        "meas_date": _iso(info["meas_date"]),
        "bads": list(info["bads"]),
        "description": info.get("description"),
        "subject_info": subject_info,
        "experimenter": info.get("experimenter"),
        "line_freq": None if info.get("line_freq") is None else float(info["line_freq"]),
        "highpass": None if info.get("highpass") is None else float(info["highpass"]),
        "lowpass": None if info.get("lowpass") is None else float(info["lowpass"]),
    }


def info_to_fif(info: Any) -> bytes:
    """MNE's own FIF serialisation of a measurement info (``mne.io.write_info``), as bytes.

    Example:
        >>> from nb_core.testing import simulate_raw
        >>> info_to_fif(simulate_raw(n_channels=2, duration=1.0).info)[:4]
        b'\\x00\\x00\\x00d'
    """
    mne = _mne()
    with tempfile.TemporaryDirectory(prefix="nb-info-") as tmp:
        path = Path(tmp) / "info.fif"
        mne.io.write_info(path, info, reset_range=False, verbose="error")
        return path.read_bytes()


def info_from_fif(data: bytes, *, where: str = "mne_info") -> Any:
    """Read an ``mne.Info`` back from :func:`info_to_fif` bytes (``mne.io.read_info``).

    Raises:
        CorruptDataError: MNE cannot read the bytes as a FIF measurement info.
    """
    from nb_core.errors import CorruptDataError

    mne = _mne()
    with tempfile.TemporaryDirectory(prefix="nb-info-") as tmp:
        path = Path(tmp) / "info.fif"
        path.write_bytes(data)
        try:
            return mne.io.read_info(path, verbose="error")
        except _MNE_ERRORS as err:
            raise CorruptDataError(
                f"{where}: the stored FIF measurement info cannot be read by MNE ({_one_line(err)})"
            ) from None


def _stored_info(raw_info: Any) -> dict[str, Any] | None:
    from nb_core.schema import MNE_INFO_UNSETTABLE

    try:
        blob = info_to_fif(raw_info)
    except _MNE_ERRORS as err:  # an info MNE itself cannot write: keep the readable fields only
        warnings.warn(
            f"MNE cannot serialise this recording's measurement info ({_one_line(err)}); only the "
            "readable fields are kept",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    out: dict[str, Any] = {
        "fif": base64.b64encode(blob).decode("ascii"),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "unset": [k for k in MNE_INFO_UNSETTABLE if raw_info.get(k) is None],
    }
    # FIF keeps cal and range as float32; keep float64 values that float32 would change.
    for key in ("cal", "range"):
        values = [float(ch[key]) for ch in raw_info["chs"]]
        if any(float(np.float32(v)) != v for v in values):
            out[key] = values
    return out


def recording_from_mne(
    raw: mne.io.BaseRaw,
    *,
    id: str | None = None,
    entities: dict[str, str] | None = None,
    dtype: Any = np.float64,
    load_data: bool = True,
    keep_info: bool = True,
) -> Recording:
    """Convert an MNE Raw into a Recording.

    Args:
        raw (`mne.io.BaseRaw`): any Raw (preloaded or not).
        id (`str`, *optional*): recording id; defaults to :func:`recording_id` of the recording's
            path (the ``.mff``/``.ds`` directory for directory formats) or ``"recording"``.
        entities (`dict[str, str]`, *optional*): BIDS entities to attach.
        dtype (*optional*, defaults to `np.float64`): dtype of ``data`` (float64 keeps MNE's values exactly).
        load_data (`bool`, *optional*, defaults to `True`): read the signals; `False` gives a
            metadata-only Recording (``data=None``).
        keep_info (`bool`, *optional*, defaults to `True`): also store MNE's complete measurement
            info in its FIF serialisation (:attr:`Recording.mne_info`), so that :func:`recording_to_mne`
            gives back all of it.
    """
    info = raw.info
    ann = raw.annotations
    extras = list(getattr(ann, "extras", None) or [None] * len(ann))
    annotations = [
        Annotation(
            onset=float(o),
            duration=float(d),
            description=str(desc),
            ch_names=list(chn),
            extras=check_json(
                {str(k): _to_json_value(v) for k, v in (ex or {}).items()}, field="annotation extras"
            ),
        )
        for o, d, desc, chn, ex in zip(
            ann.onset, ann.duration, ann.description, ann.ch_names, extras, strict=True
        )
    ]
    source = source_path(raw)
    if id is None:
        id = recording_id(source) if source else "recording"
    data = raw.get_data().astype(dtype, copy=False) if load_data else None
    return Recording(
        id=id,
        channels=_channels_of(info),
        data=data,
        n_times=int(raw.n_times),
        first_samp=int(raw.first_samp),
        annotations=annotations,
        annotations_orig_time=_iso(ann.orig_time),
        dig=_dig_of(info),
        entities=dict(entities or {}),
        provenance=Provenance(source=source, format="mne") if source else None,
        mne_info=_stored_info(info) if keep_info else None,
        **_scalars_of(info),
    )


def _set_annotations(raw: mne.io.BaseRaw, rec: Recording) -> None:
    """Put ``rec``'s annotations on ``raw`` with their onsets exactly as stored.

    Onsets are appended as they are (MNE's own convention, see
    :class:`~nb_core.schema.Annotation`) instead of going through ``set_annotations``, which
    would add ``first_samp / sfreq`` again when ``orig_time`` is None.
    """
    if not rec.annotations:
        return
    meas = raw.info["meas_date"]
    orig = _from_iso(rec.annotations_orig_time)
    onset = np.array([a.onset for a in rec.annotations], dtype=float)
    if orig is not None:
        if meas is None:
            raise IncompatibleDataError(
                f"recording {rec.id!r}: annotations_orig_time is set but meas_date is not, so the "
                "annotations cannot be placed on the data (MNE refuses this too)"
            )
        if orig != meas:  # MNE keeps onsets relative to meas_date (as set_annotations converts)
            onset = onset + (orig - meas).total_seconds()
    kwargs: dict[str, Any] = {}
    if any(a.extras for a in rec.annotations):
        kwargs["extras"] = [dict(a.extras) or None for a in rec.annotations]
    raw.annotations.append(
        onset,
        [a.duration for a in rec.annotations],
        [a.description for a in rec.annotations],
        ch_names=[tuple(a.ch_names) for a in rec.annotations],
        **kwargs,
    )


def _subject_info_to_mne(si: dict[str, Any]) -> dict[str, Any]:
    from nb_core.errors import SchemaError

    out = dict(si)
    if isinstance(out.get("birthday"), str):
        try:
            out["birthday"] = _dt.date.fromisoformat(out["birthday"])
        except ValueError:
            raise SchemaError(
                f"{out['birthday'][:40]!r} is not an ISO date (YYYY-MM-DD)", field="subject_info.birthday"
            ) from None
    for k in ("weight", "height"):
        if isinstance(out.get(k), int):
            out[k] = float(out[k])
    return out


def _info_from_json(rec: Recording) -> Any:
    """A new info from the readable fields only (recordings stored without ``mne_info``)."""
    mne = _mne()
    info = mne.create_info(rec.ch_names, rec.sfreq, rec.ch_types)
    with info._unlock():  # the documented way MNE's own readers fill these fields
        for ch, spec in zip(info["chs"], rec.channels, strict=True):
            _apply_channel(ch, spec)
        _apply_scalars(info, rec, only_changed_from=None)
        if rec.dig:
            info["dig"] = _mne_dig(rec.dig)
    return info


def _apply_channel(ch: Any, spec: Channel) -> None:
    ch["unit"] = _unit_code(spec.unit)
    if spec.unit_mul is not None:
        ch["unit_mul"] = spec.unit_mul
    if spec.coil_type is not None:
        ch["coil_type"] = spec.coil_type
    ch["loc"] = np.array(
        [np.nan if v is None else v for v in (spec.loc if spec.loc is not None else [None] * 12)], dtype=float
    )


def _mne_dig(points: list[DigPoint]) -> list[Any]:
    from mne._fiff._digitization import DigPoint as MNEDigPoint  # the type MNE stores in info["dig"]

    return [
        MNEDigPoint(
            kind=_DIG_CODES.get(p.kind, int(p.kind) if p.kind.isdigit() else 4),
            ident=p.ident,
            r=np.array(p.r, dtype=float),
            coord_frame=_FRAME_CODES.get(p.coord_frame, int(p.coord_frame) if p.coord_frame.isdigit() else 0),
        )
        for p in points
    ]


def _apply_scalars(info: Any, rec: Recording, *, only_changed_from: dict[str, Any] | None) -> None:
    """Set sfreq, bads, description, ... from ``rec`` (those that differ from ``only_changed_from``)."""
    mine = {k: getattr(rec, k) for k in ("sfreq", "bads", "description", "subject_info", "experimenter")}
    mine |= {k: getattr(rec, k) for k in ("line_freq", "highpass", "lowpass")}
    for key, value in mine.items():
        if only_changed_from is not None and only_changed_from.get(key) == value:
            continue
        if value is None and only_changed_from is None:
            continue
        if key == "subject_info" and value is not None:
            value = _subject_info_to_mne(value)
        info[key] = list(value) if key == "bads" else value


def _restore_float64(info: Any, stored: dict[str, Any], rec_id: str) -> None:
    """Put back the float64 ``cal``/``range`` values that FIF's float32 would have changed."""
    from nb_core.errors import CorruptDataError

    for key in ("cal", "range"):
        if key not in stored:
            continue
        if len(stored[key]) != len(info["chs"]):
            raise CorruptDataError(
                f"recording {rec_id!r}.mne_info.{key}: {len(stored[key])} values for "
                f"{len(info['chs'])} channels"
            )
        with info._unlock():
            for ch, v in zip(info["chs"], stored[key], strict=True):
                ch[key] = v


def _pick_channels(info: Any, ch_names: list[str]) -> Any | None:
    """``info`` restricted to ``ch_names`` (in that order); `None` when it cannot be."""
    names = list(info["ch_names"])
    if names == ch_names:
        return info
    pos = {n: i for i, n in enumerate(names)}
    if not set(ch_names) <= set(pos):
        return None
    try:  # e.g. CTF compensation that needs a reference channel left out
        return _mne().pick_info(info, [pos[n] for n in ch_names], verbose="error")
    except _MNE_ERRORS:
        return None


def _info_from_stored(rec: Recording) -> Any | None:
    """The info stored in ``rec.mne_info``, reconciled with the readable fields (which win where
    they differ, e.g. after a channel subset or an edited ``bads``); `None` when its channels no
    longer match (the readable fields are used then)."""
    from nb_core.schema import check_mne_info

    stored = check_mne_info(rec.mne_info, f"recording {rec.id!r}.mne_info")
    if stored is None:
        return None
    info = info_from_fif(base64.b64decode(stored["fif"]), where=f"recording {rec.id!r}.mne_info")
    _restore_float64(info, stored, rec.id)
    info = _pick_channels(info, rec.ch_names)
    if info is None or info.get_channel_types() != rec.ch_types:
        return None
    with info._unlock():
        for key in stored["unset"]:
            info[key] = None
        for ch, theirs, mine in zip(info["chs"], _channels_of(info), rec.channels, strict=True):
            if theirs != mine:  # FIF keeps locations as float32: the float64 readable ones win
                _apply_channel(ch, mine)
        if _dig_of(info) != rec.dig:
            info["dig"] = _mne_dig(rec.dig) if rec.dig else None
        _apply_scalars(info, rec, only_changed_from=_scalars_of(info))
    return info


def recording_to_mne(rec: Recording) -> mne.io.RawArray:
    """Build an ``mne.io.RawArray`` from a Recording with its data loaded.

    With :attr:`Recording.mne_info` (written by :func:`recording_from_mne`) the whole measurement
    info comes back as MNE had it; the readable fields win where they differ from it (a channel
    subset, edited bads, float64 locations). Without it, the info is built from the readable fields.

    Raises:
        IncompatibleDataError: the recording has no data, a unit has no MNE equivalent, or MNE
            refuses a value (an unknown channel type, ...).
        CorruptDataError: the stored measurement info is corrupt.
    """
    mne = _mne()
    if rec.data is None:
        raise IncompatibleDataError(f"recording {rec.id!r} has no data loaded; read it before to_mne()")
    try:
        info = _info_from_stored(rec) if rec.mne_info is not None else None
        if info is None:
            info = _info_from_json(rec)
        data = np.asarray(rec.data, dtype=np.float64)
        raw = mne.io.RawArray(data, info, first_samp=rec.first_samp, verbose="error")
        meas_date = _from_iso(rec.meas_date)
        if meas_date != raw.info["meas_date"]:
            raw.set_meas_date(meas_date)
        _set_annotations(raw, rec)
    except NBError:
        raise
    except _MNE_ERRORS as err:  # MNE refuses a value the schema allows (a channel type, a date...)
        raise IncompatibleDataError(
            f"recording {rec.id!r}: MNE cannot build a Raw from it ({type(err).__name__}: {_one_line(err)})"
        ) from None
    return raw


# ---------------------------------------------------------------------------------------------
# One reader for every MNE-readable input
# ---------------------------------------------------------------------------------------------

# Lower-case suffix -> (format name, MNE reader functions tried in order). Mirrors
# ``mne.io.read_raw``'s table, plus the directory formats and NSx's .ns1-.ns6.
_READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    ".fif": ("FIF", ("read_raw_fif",)),
    ".fif.gz": ("FIF", ("read_raw_fif",)),
    ".edf": ("EDF", ("read_raw_edf",)),
    ".bdf": ("BDF", ("read_raw_bdf",)),
    ".gdf": ("GDF", ("read_raw_gdf",)),
    ".vhdr": ("BrainVision", ("read_raw_brainvision",)),
    ".ahdr": ("BrainVision", ("read_raw_brainvision",)),
    ".set": ("EEGLAB", ("read_raw_eeglab",)),
    ".cnt": ("Neuroscan CNT or ANT", ("read_raw_cnt", "read_raw_ant")),
    ".mff": ("EGI MFF", ("read_raw_egi",)),
    ".nxe": ("eXimia", ("read_raw_eximia",)),
    ".hdr": ("NIRx", ("read_raw_nirx",)),
    ".snirf": ("SNIRF", ("read_raw_snirf",)),
    ".mat": ("FieldTrip", ("read_raw_fieldtrip",)),
    ".bin": ("ARTEMIS123 or FIL OPM", ("read_raw_artemis123", "read_raw_fil")),
    ".data": ("Nicolet", ("read_raw_nicolet",)),
    ".sqd": ("KIT", ("read_raw_kit",)),
    ".con": ("KIT", ("read_raw_kit",)),
    ".ds": ("CTF", ("read_raw_ctf",)),
    ".txt": ("BOXY", ("read_raw_boxy",)),
    ".dat": ("Curry or BCI2000", ("read_raw_curry", "read_raw_bci2k")),
    ".dap": ("Curry", ("read_raw_curry",)),
    ".rs3": ("Curry", ("read_raw_curry",)),
    ".cdt": ("Curry", ("read_raw_curry",)),
    ".cdt.dpa": ("Curry", ("read_raw_curry",)),
    ".cdt.cef": ("Curry", ("read_raw_curry",)),
    ".cef": ("Curry", ("read_raw_curry",)),
    ".nedf": ("NEDF", ("read_raw_nedf",)),
    ".asc": ("EyeLink", ("read_raw_eyelink",)),
    ".lay": ("Persyst", ("read_raw_persyst",)),
    ".eeg": ("Nihon Kohden", ("read_raw_nihon",)),
    ".mefd": ("MEF", ("read_raw_mef",)),
    **{f".ns{i}": ("NSx", ("read_raw_nsx",)) for i in range(1, 7)},
}
# Companion files people pass by mistake -> the file to give instead.
_COMPANIONS = {
    ".vmrk": ".vhdr",
    ".amrk": ".ahdr",
    ".fdt": ".set",
    ".21e": ".eeg",
    ".pnt": ".eeg",
    ".log": ".eeg",
    ".nev": ".ns1-.ns6",
}
_BTI = ("BTi/4D", ("read_raw_bti",))
_NEURALYNX = ("Neuralynx", ("read_raw_neuralynx",))


def _suffix(name: str) -> str | None:
    """The longest known suffix of ``name`` (lower case), or `None`."""
    low = name.lower()
    for n_dots in (2, 1):
        parts = low.split(".")
        if len(parts) > n_dots:
            ext = "." + ".".join(parts[-n_dots:])
            if ext in _READERS or ext in _COMPANIONS:
                return ext
    return None


def _bti_pdf(directory: Path) -> Path | None:
    """The BTi/4D data file (``c,rf...``) of a run directory, if it is one."""
    pdfs = sorted(p for p in directory.iterdir() if p.is_file() and p.name.startswith("c,rf"))
    return pdfs[0] if pdfs else None


_Resolved = tuple[str, tuple[str, ...], Path, dict[str, Any]]


def _resolve(path: Path) -> _Resolved:
    """``(format, reader names, path to pass, default reader kwargs)`` for an input, or raise."""
    return _resolve_dir(path) if path.is_dir() else _resolve_file(path)


def _bti(pdf: Path, run_dir: Path) -> _Resolved:
    hs = run_dir / "hs_file"
    return (
        *_BTI,
        pdf,
        {"config_fname": str(run_dir / "config"), "head_shape_fname": str(hs) if hs.exists() else None},
    )


def _resolve_dir(path: Path) -> _Resolved:
    from nb_core.errors import UnsupportedFormatError
    from nb_core.manifest import MANIFEST_NAME

    if (path / MANIFEST_NAME).is_file():
        raise UnsupportedFormatError(
            f"{path}: is a neurobridge artifact, not a recording; open it with its package "
            "(nb_formats.open / nb_shards) or convert it"
        )
    ext = _suffix(path.name)
    if ext in (".ds", ".mff"):
        fmt, readers = _READERS[ext]
        return fmt, readers, path, {}
    pdf = _bti_pdf(path)
    if pdf is not None:
        return _bti(pdf, path)
    if any(p.suffix.lower() == ".ncs" for p in path.iterdir()):
        return (*_NEURALYNX, path, {})
    if any(p.suffix.lower() == ".hdr" for p in path.iterdir()):
        fmt, readers = _READERS[".hdr"]
        return fmt, readers, path, {}
    raise UnsupportedFormatError(
        f"{path}: a directory that is not an MNE-readable recording (CTF .ds, EGI .mff, a BTi/4D "
        "run with c,rf*, Neuralynx .ncs or NIRx folders are)"
    )


def _resolve_file(path: Path) -> _Resolved:
    from nb_core.errors import UnsupportedFormatError

    if path.name.startswith("c,rf"):
        return _bti(path, path.parent)
    ext = _suffix(path.name)
    if ext in _COMPANIONS:
        main = path.with_name(path.name[: -len(ext)] + _COMPANIONS[ext])
        what = main.name if main.is_file() else f"the {_COMPANIONS[ext]} file"
        raise UnsupportedFormatError(
            f"{path}: is the companion of a recording, not the recording; give {what}"
        )
    if ext is None:
        known = ", ".join(sorted(_READERS))
        raise UnsupportedFormatError(
            f"{path}: unsupported recording file type {''.join(path.suffixes) or '(no extension)'!r}; "
            f"MNE-readable types are {known}, and CTF .ds, EGI .mff and BTi/4D directories"
        )
    fmt, readers = _READERS[ext]
    if ext == ".eeg" and path.with_suffix(".vhdr").exists():
        raise UnsupportedFormatError(
            f"{path}: is the data file of a BrainVision recording; give {path.with_suffix('.vhdr').name}"
        )
    return fmt, readers, path, {}


def is_mne_input(path: str | os.PathLike[str]) -> bool:
    """Whether :func:`read_raw` would try to read ``path`` (by name and layout; nothing is opened).

    Example:
        >>> is_mne_input("sub-01_eeg.edf"), is_mne_input("data.npy")
        (True, False)
    """
    p = Path(path)
    if not p.exists() and not p.is_dir():
        return _suffix(p.name) in _READERS or p.name.startswith("c,rf")
    try:
        _resolve(p)
    except NBError:
        return False
    return True


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _missing_module(err: BaseException) -> str | None:
    needed = re.search(r"the module (\w+) is needed", str(err))  # MNE's _soft_import message
    if needed:
        return needed.group(1)
    e: BaseException | None = err
    while e is not None:
        if isinstance(e, ImportError):
            return getattr(e, "name", None) or _one_line(e)
        e = e.__cause__ or e.__context__
    return None


def read_raw(path: str | os.PathLike[str], *, preload: bool = False, **reader_kwargs: Any) -> mne.io.BaseRaw:
    """Open any MNE-readable recording: a file ``mne.io.read_raw`` knows, or a CTF ``.ds``, EGI
    ``.mff``, BTi/4D, Neuralynx or NIRx directory.

    The one input resolver of neurobridge (``nb formats write`` and ``nb shards write`` use it).
    ``reader_kwargs`` go to the MNE reader (``allow_maxshield=True`` for MaxShield FIF files,
    ``eog=[...]``, ...); ``preload`` is handled for readers without it (EyeLink).

    Args:
        path (`str` or `os.PathLike`): the recording as the user gave it.
        preload (`bool`, *optional*, defaults to `False`): load the signals into memory now.
        **reader_kwargs: options of the MNE reader (``verbose`` defaults to ``"error"``).

    Raises:
        InputNotFoundError: ``path`` does not exist.
        UnsupportedFormatError: not a recording MNE reads (the message lists what is).
        CorruptDataError: MNE could not read it (one line naming the file and the reason).
        DependencyMissingError: the reader needs an optional package.
        UserError: a reader option that the reader does not have, or that the file needs.

    Example:
        >>> from nb_core.testing import simulate_raw
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub-01_eeg.fif"
        >>> _ = simulate_raw(n_channels=2, duration=1.0).save(path, verbose="error")
        >>> read_raw(path).ch_names
        ['Fp1', 'Fp2']
    """
    from nb_core.errors import CorruptDataError, InputNotFoundError

    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file or directory")
    fmt, readers, target, defaults = _resolve(p)
    mne = _mne()
    kwargs = {"verbose": "error", **defaults, **reader_kwargs}
    if "fieldtrip" in readers[0]:
        kwargs.setdefault("info", None)
    failures: list[str] = []
    for name in readers:
        fn = getattr(mne.io, name, None)
        if fn is None:
            failures.append(f"mne.io.{name} is not in this MNE ({mne.__version__})")
            continue
        call, has_preload = _reader_call(fn, name, kwargs, reader_kwargs, preload, p, fmt, len(readers))
        if isinstance(call, str):
            failures.append(call)
            continue
        try:
            with warnings.catch_warnings():  # library deprecation noise (pandas inside MNE readers)
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                raw = fn(str(target), **call)
                if preload and not has_preload:
                    raw.load_data()
            return raw
        except NBError:
            raise
        # A reader on a hostile file raises whatever its parser (scipy, h5py, xml, zipfile,
        # pandas, struct, NumPy) raises; every such failure becomes one CorruptDataError line.
        except Exception as err:  # noqa: BLE001
            failures.append(_reader_failure(err, name, p, fmt, reader_kwargs))
    if len(failures) == 1:
        raise CorruptDataError(f"{p}: cannot be read as {fmt} ({failures[0]})")
    raise CorruptDataError(f"{p}: cannot be read as {fmt} ({'; '.join(failures)})")


def _reader_call(
    fn: Any,
    name: str,
    kwargs: dict[str, Any],
    reader_kwargs: dict[str, Any],
    preload: bool,
    p: Path,
    fmt: str,
    n_readers: int,
) -> tuple[dict[str, Any] | str, bool]:
    """The keyword arguments for reader ``fn`` (and whether it takes ``preload``), or the reason
    it cannot take them when other readers remain to be tried.

    Raises:
        UserError: the only reader has no such option(s).
    """
    import inspect

    from nb_core.errors import UserError

    params = inspect.signature(fn).parameters
    call = dict(kwargs)
    has_preload = "preload" in params
    if has_preload:
        call["preload"] = preload
    if "verbose" not in params and "verbose" not in reader_kwargs:
        call.pop("verbose")  # read_raw_fieldtrip has none
    unknown = [k for k in call if k not in params]
    if unknown and not any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values()):
        if n_readers > 1:
            return f"mne.io.{name} has no option(s) {unknown}", has_preload
        raise UserError(
            f"{p}: the {fmt} reader (mne.io.{name}) has no option(s) {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(k for k in params if k not in ('fname', 'input_fname'))}"
        )
    return call, has_preload


def _reader_failure(err: Exception, name: str, p: Path, fmt: str, reader_kwargs: dict[str, Any]) -> str:
    """One line for a reader's failure, or the error that says how to fix it.

    Raises:
        DependencyMissingError: the reader needs a package that is not installed.
        UserError: a MaxShield file read without ``allow_maxshield=True``.
    """
    from nb_core.errors import DependencyMissingError, UserError

    missing = _missing_module(err)
    if missing is not None:
        raise DependencyMissingError(
            f"{p}: reading {fmt} files with mne.io.{name} needs the optional package "
            f"{missing!r}: pip install {missing.split('.')[0]}"
        ) from None
    if "allow_maxshield" in str(err) and not reader_kwargs.get("allow_maxshield"):
        raise UserError(
            f"{p}: a MaxShield (IAS) FIF file, not yet processed with SSS; pass the reader "
            "option allow_maxshield=True to read it anyway (or run Maxwell filtering first)"
        ) from None
    return f"mne.io.{name}: {type(err).__name__}: {_one_line(err)}"


def parse_reader_options(items: Iterable[str] | None, *, flag: str = "--reader-option") -> dict[str, Any]:
    """Turn CLI ``KEY=VALUE`` items into keyword arguments for :func:`read_raw`.

    Values are read as JSON when they are JSON (``true``, ``3``, ``["EOG1"]``, ``null``), else
    kept as text; the same key twice is an error.

    Example:
        >>> parse_reader_options(["allow_maxshield=true", 'eog=["E1"]', "encoding=latin-1"])
        {'allow_maxshield': True, 'eog': ['E1'], 'encoding': 'latin-1'}
    """
    from nb_core.errors import CorruptDataError, UserError
    from nb_core.validation import load_json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UserError(
                f"{flag} {item!r}: expected KEY=VALUE with a Python name as KEY (e.g. allow_maxshield=true)"
            )
        if key in out:
            raise UserError(f"{flag}: {key!r} is given twice")
        try:
            out[key] = load_json(value, where=f"{flag} {key}")
        except CorruptDataError:
            out[key] = value
    return out


def recording_id(path: str | os.PathLike[str]) -> str:
    """The recording id for an input path: its name without the recording's extension.

    For directory formats the directory names the recording (``run1.mff`` -> ``run1``); a BTi/4D
    data file (``c,rfDC``) is named by its run directory. Remaining dots become ``_`` (ids become
    sample keys, which hold no dots).

    Example:
        >>> recording_id("data/sub-01_task-rest_eeg.vhdr"), recording_id("night.2.mff/")
        ('sub-01_task-rest_eeg', 'night_2')
    """
    p = Path(os.fspath(path).rstrip("/\\") or ".")
    name = p.name
    if name.startswith("c,rf"):
        name = p.parent.name or "recording"
    else:
        ext = _suffix(name)
        if ext is not None:
            name = name[: -len(ext)]
        elif not p.is_dir() and "." in name.lstrip("."):
            name = name.rsplit(".", 1)[0]
    name = name.replace(".", "_").strip()
    return name or "recording"


def source_path(raw: mne.io.BaseRaw) -> str | None:
    """The path that names ``raw``'s recording: the ``.mff``/``.ds``/BTi directory for directory
    formats (MNE lists a file inside them), else its first file; `None` for in-memory data."""
    filenames = [f for f in (getattr(raw, "filenames", None) or []) if f]
    if not filenames:
        return None
    first = Path(os.fspath(filenames[0]))
    for parent in [first, *first.parents]:
        if parent.suffix.lower() in (".mff", ".ds"):
            return str(parent)
    if first.name.startswith("c,rf"):
        return str(first.parent)
    for data_ext, header_ext in ((".eeg", ".vhdr"), (".fdt", ".set"), (".dat", ".vhdr")):
        if first.suffix.lower() == data_ext and first.with_suffix(header_ext).is_file():
            return str(first.with_suffix(header_ext))  # the header names the recording
    return str(first)


# ---------------------------------------------------------------------------------------------
# Modality of a channel set
# ---------------------------------------------------------------------------------------------

_MEG = {"mag", "grad", "ref_meg"}
_EEG = {"eeg", "csd"}
_IEEG = {"seeg", "ecog", "dbs"}
_NIRS = {"hbo", "hbr", "fnirs_od"} | {"fnirs_" + k for k in ("cw_amplitude", "fd_ac_amplitude", "fd_phase")}
_EYE = {"eyegaze", "pupil"}
_PHYSIO = {"ecg", "emg", "eog", "resp", "bio", "gsr", "temperature"}


def modality_of(ch_types: Iterable[str]) -> str:
    """Name the modality of a recording from its MNE channel types.

    The first that applies: any MEG channel (``mag``, ``grad``, ``ref_meg``) -> ``"meg"``;
    EEG -> ``"eeg"``; sEEG/ECoG/DBS -> ``"ieeg"``; fNIRS -> ``"nirs"``; eye gaze or pupil ->
    ``"eyetrack"``. Stimulus, misc and physiological channels (EOG, ECG, EMG, ...) decide only
    when nothing else is there: one type gives its own name (``"emg"``), several physiological
    types ``"physio"``, anything else ``"misc"``.

    Example:
        >>> modality_of(["mag", "grad", "stim", "eog"]), modality_of(["eeg", "stim"])
        ('meg', 'eeg')
        >>> modality_of(["seeg", "ecg"]), modality_of(["emg", "emg"]), modality_of(["ecg", "resp"])
        ('ieeg', 'emg', 'physio')
    """
    from nb_core.errors import UserError

    types = {str(t) for t in ch_types}
    if not types:
        raise UserError("modality_of: no channel types given")
    nirs = _NIRS | {t for t in types if t.startswith("fnirs_")}
    for group, name in ((_MEG, "meg"), (_EEG, "eeg"), (_IEEG, "ieeg"), (nirs, "nirs"), (_EYE, "eyetrack")):
        if types & group:
            return name
    if len(types) == 1:
        only = types.pop()
        return only if re.match(r"^[a-z][a-z0-9_]*$", only) else "misc"
    return "physio" if types <= _PHYSIO else "misc"
