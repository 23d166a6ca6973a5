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

import datetime as _dt
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_core.errors import IncompatibleDataError
from nb_core.schema import Annotation, Channel, DigPoint, Provenance, Recording
from nb_core.validation import check_json, soft_import

if TYPE_CHECKING:
    import mne

__all__ = ["recording_from_mne", "recording_to_mne"]

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


def recording_from_mne(
    raw: mne.io.BaseRaw,
    *,
    id: str | None = None,
    entities: dict[str, str] | None = None,
    dtype: Any = np.float64,
    load_data: bool = True,
) -> Recording:
    """Convert an MNE Raw into a Recording.

    Args:
        raw (`mne.io.BaseRaw`): any Raw (preloaded or not).
        id (`str`, *optional*): recording id; defaults to the file name stem or ``"recording"``.
        entities (`dict[str, str]`, *optional*): BIDS entities to attach.
        dtype (*optional*, defaults to `np.float64`): dtype of ``data`` (float64 keeps MNE's values exactly).
        load_data (`bool`, *optional*, defaults to `True`): read the signals; `False` gives a
            metadata-only Recording (``data=None``).
    """
    info = raw.info
    chs = info["chs"]
    channels = []
    for ch, ch_type in zip(chs, raw.get_channel_types(), strict=True):
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
    dig = []
    for p in info.get("dig") or []:
        dig.append(
            DigPoint(
                kind=_DIG_KINDS.get(int(p["kind"]), str(int(p["kind"]))),
                ident=int(p["ident"]),
                r=[float(v) for v in p["r"]],
                coord_frame=_FRAMES.get(int(p["coord_frame"]), str(int(p["coord_frame"]))),
            )
        )
    ann = raw.annotations
    annotations = [
        Annotation(onset=float(o), duration=float(d), description=str(desc), ch_names=list(chn))
        for o, d, desc, chn in zip(ann.onset, ann.duration, ann.description, ann.ch_names, strict=True)
    ]
    subject_info = info.get("subject_info")
    if subject_info is not None:
        subject_info = check_json(
            {k: _to_json_value(v) for k, v in subject_info.items()}, field="subject_info"
        )
    filenames = [f for f in (getattr(raw, "filenames", None) or []) if f]
    source = os.fspath(filenames[0]) if filenames else None
    if id is None:
        id = os.path.basename(source).split(".")[0] if source else "recording"
    data = raw.get_data().astype(dtype, copy=False) if load_data else None
    return Recording(
        id=id,
        sfreq=float(info["sfreq"]),
        channels=channels,
        data=data,
        n_times=int(raw.n_times),
        first_samp=int(raw.first_samp),
        meas_date=_iso(info["meas_date"]),
        annotations=annotations,
        annotations_orig_time=_iso(ann.orig_time),
        dig=dig,
        bads=list(info["bads"]),
        description=info.get("description"),
        subject_info=subject_info,
        experimenter=info.get("experimenter"),
        line_freq=None if info.get("line_freq") is None else float(info["line_freq"]),
        highpass=None if info.get("highpass") is None else float(info["highpass"]),
        lowpass=None if info.get("lowpass") is None else float(info["lowpass"]),
        entities=dict(entities or {}),
        provenance=Provenance(source=source, format="mne") if source else None,
    )


def _subject_info_to_mne(si: dict[str, Any]) -> dict[str, Any]:
    out = dict(si)
    if isinstance(out.get("birthday"), str):
        out["birthday"] = _dt.date.fromisoformat(out["birthday"])
    for k in ("weight", "height"):
        if isinstance(out.get(k), int):
            out[k] = float(out[k])
    return out


def recording_to_mne(rec: Recording) -> mne.io.RawArray:
    """Build an ``mne.io.RawArray`` from a Recording with its data loaded.

    Raises:
        IncompatibleDataError: the recording has no data, or a unit has no MNE equivalent.
    """
    mne = _mne()
    from mne._fiff._digitization import (
        DigPoint as MNEDigPoint,
    )  # the type MNE stores in info["dig"]

    if rec.data is None:
        raise IncompatibleDataError(f"recording {rec.id!r} has no data loaded; read it before to_mne()")
    info = mne.create_info(rec.ch_names, rec.sfreq, rec.ch_types)
    with info._unlock():  # the documented way MNE's own readers fill these fields
        for ch, spec in zip(info["chs"], rec.channels, strict=True):
            ch["unit"] = _unit_code(spec.unit)
            if spec.unit_mul is not None:
                ch["unit_mul"] = spec.unit_mul
            if spec.coil_type is not None:
                ch["coil_type"] = spec.coil_type
            if spec.loc is not None:
                ch["loc"] = np.array([np.nan if v is None else v for v in spec.loc], dtype=float)
        if rec.dig:
            info["dig"] = [
                MNEDigPoint(
                    kind=_DIG_CODES.get(p.kind, int(p.kind) if p.kind.isdigit() else 4),
                    ident=p.ident,
                    r=np.array(p.r, dtype=float),
                    coord_frame=_FRAME_CODES.get(p.coord_frame, 0),
                )
                for p in rec.dig
            ]
        info["bads"] = list(rec.bads)
        if rec.description is not None:
            info["description"] = rec.description
        if rec.experimenter is not None:
            info["experimenter"] = rec.experimenter
        if rec.line_freq is not None:
            info["line_freq"] = rec.line_freq
        if rec.highpass is not None:
            info["highpass"] = rec.highpass
        if rec.lowpass is not None:
            info["lowpass"] = rec.lowpass
        if rec.subject_info is not None:
            info["subject_info"] = _subject_info_to_mne(rec.subject_info)
    data = np.asarray(rec.data, dtype=np.float64)
    raw = mne.io.RawArray(data, info, first_samp=rec.first_samp, verbose="error")
    raw.set_meas_date(_from_iso(rec.meas_date))
    if rec.annotations:
        raw.set_annotations(
            mne.Annotations(
                onset=[a.onset for a in rec.annotations],
                duration=[a.duration for a in rec.annotations],
                description=[a.description for a in rec.annotations],
                ch_names=[tuple(a.ch_names) for a in rec.annotations],
                orig_time=_from_iso(rec.annotations_orig_time),
            )
        )
    return raw
