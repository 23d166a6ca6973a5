"""The shared schema: Sample, Recording (with its parts) and Window.

These are plain dataclasses with a JSON form (``to_dict`` / ``from_dict``)
that is validated when read: a wrong type, a missing field or a non-finite
number raises :class:`~nb_core.errors.SchemaError` (or
:class:`~nb_core.errors.NonFiniteDataError`) naming the field.

Signals never travel through JSON: a Recording's ``data`` is a NumPy array
(channels × times) kept beside its metadata; a Sample's ``arrays`` are NumPy
arrays stored as ``.npy``.

Example:
    >>> import numpy as np
    >>> rec = Recording(id="sub-01_run-1", sfreq=250.0,
    ...                 channels=[Channel("Cz"), Channel("Pz")],
    ...                 data=np.zeros((2, 500)))
    >>> rec.n_times, rec.ch_names
    (500, ['Cz', 'Pz'])
    >>> Recording.from_dict(rec.to_dict()).ch_names
    ['Cz', 'Pz']
    >>> s = Sample(key="sub-01_w0", arrays={"eeg": np.zeros((2, 100), "float32")},
    ...            metadata={"target": 1})
    >>> s.validate().key
    'sub-01_w0'
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_core.errors import CorruptDataError, IncompatibleDataError, SchemaError, UserError
from nb_core.validation import (
    Fields,
    check_finite_array,
    check_json,
    check_key,
    check_modality_name,
    check_number,
)

if TYPE_CHECKING:
    import mne

__all__ = [
    "Annotation",
    "Channel",
    "DigPoint",
    "ProcessingStep",
    "Provenance",
    "Recording",
    "Sample",
    "Target",
    "Window",
    "annotation_spans",
    "check_mne_info",
    "window_starts",
]

Target = int | float | str | None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass
class Channel:
    """One channel: name, MNE channel type, SI unit and (optionally) MNE's location vector.

    ``loc`` is MNE's 12-element ``info['chs'][i]['loc']`` (position, then
    orientation for MEG); unknown entries (NaN in MNE) are `None` (``null`` in
    JSON). ``coil_type`` and ``unit_mul`` keep MEG sensors exact.

    Example:
        >>> from nb_core import Channel
        >>> Channel("Cz", type="eeg", unit="V").to_dict()
        {'name': 'Cz', 'type': 'eeg', 'unit': 'V'}
    """

    name: str
    type: str = "eeg"
    unit: str = "V"
    loc: list[float | None] | None = None
    coil_type: int | None = None
    unit_mul: int | None = None

    def to_dict(self) -> dict[str, Any]:
        loc = None
        if self.loc is not None:
            loc = [None if v is None or not math.isfinite(v) else float(v) for v in self.loc]
        return _drop_none(
            {
                "name": self.name,
                "type": self.type,
                "unit": self.unit,
                "loc": loc,
                "coil_type": self.coil_type,
                "unit_mul": self.unit_mul,
            }
        )

    @classmethod
    def from_dict(cls, d: Any, path: str = "channel") -> Channel:
        f = Fields(d, path)
        raw_loc = f.array("loc")
        loc: list[float | None] | None = None
        if raw_loc:
            loc = [
                None if v is None else check_number(v, field=f"{f.sub('loc')}[{i}]")
                for i, v in enumerate(raw_loc)
            ]
        out = cls(
            name=f.string("name"),
            type=f.string("type"),
            unit=f.string("unit"),
            loc=loc,
            coil_type=f.opt_integer("coil_type"),
            unit_mul=f.opt_integer("unit_mul"),
        )
        f.done()
        return out


@dataclass
class Annotation:
    """An annotated interval, as in ``mne.Annotations``: onset and duration in seconds.

    ``onset`` is exactly what MNE holds in ``raw.annotations.onset``: seconds since the
    recording's ``annotations_orig_time`` when it is set; else seconds since the time of
    sample number 0 of the acquisition, so the first stored sample is at
    ``first_samp / sfreq`` (MNE adds ``first_samp / sfreq`` to onsets when ``orig_time`` is
    None). :func:`annotation_spans` turns onsets into sample spans of the stored data.
    ``extras`` holds MNE's per-annotation extra fields (``Annotations.extras``).

    Example:
        >>> from nb_core import Annotation
        >>> Annotation(onset=1.5, duration=0.5, description="stim").to_dict()
        {'onset': 1.5, 'duration': 0.5, 'description': 'stim'}
    """

    onset: float
    duration: float
    description: str
    ch_names: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "onset": float(self.onset),
            "duration": float(self.duration),
            "description": self.description,
        }
        if self.ch_names:
            d["ch_names"] = list(self.ch_names)
        if self.extras:
            d["extras"] = check_json(self.extras, field="annotation.extras")
        return d

    @classmethod
    def from_dict(cls, d: Any, path: str = "annotation") -> Annotation:
        f = Fields(d, path)
        out = cls(
            onset=f.number("onset"),
            duration=f.number("duration"),
            description=f.string("description"),
            ch_names=f.strings("ch_names"),
            extras=f.free_json("extras"),
        )
        f.done()
        return out


@dataclass
class DigPoint:
    """A digitised point (MNE ``info['dig']``): ``kind`` is ``cardinal``, ``hpi``, ``eeg`` or
    ``extra``; ``coord_frame`` is an MNE frame name such as ``head``.

    Example:
        >>> from nb_core import DigPoint
        >>> DigPoint(kind="cardinal", ident=2, r=[0.0, 0.1, 0.0], coord_frame="head").to_dict()
        {'kind': 'cardinal', 'ident': 2, 'r': [0.0, 0.1, 0.0], 'coord_frame': 'head'}
    """

    kind: str
    ident: int
    r: list[float]
    coord_frame: str = "head"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ident": int(self.ident),
            "r": [float(v) for v in self.r],
            "coord_frame": self.coord_frame,
        }

    @classmethod
    def from_dict(cls, d: Any, path: str = "dig") -> DigPoint:
        f = Fields(d, path)
        r = f.array("r", required=True)
        if len(r) != 3:
            raise SchemaError(f"must have 3 coordinates; got {len(r)}", field=f.sub("r"))
        rr = [check_number(v, field=f"{f.sub('r')}[{i}]") for i, v in enumerate(r)]
        out = cls(kind=f.string("kind"), ident=f.integer("ident"), r=rr, coord_frame=f.string("coord_frame"))
        f.done()
        return out


@dataclass
class ProcessingStep:
    """One preprocessing step in a recording's history (``name`` and JSON ``params``).

    Example:
        >>> from nb_core import ProcessingStep
        >>> ProcessingStep("filter", {"l_freq": 1.0, "h_freq": 40.0}, software="mne").to_dict()
        {'name': 'filter', 'params': {'l_freq': 1.0, 'h_freq': 40.0}, 'software': 'mne'}
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    software: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "name": self.name,
                "params": check_json(self.params, field="params"),
                "software": self.software,
            }
        )

    @classmethod
    def from_dict(cls, d: Any, path: str = "step") -> ProcessingStep:
        f = Fields(d, path)
        out = cls(name=f.string("name"), params=f.free_json("params"), software=f.opt_string("software"))
        f.done()
        return out


@dataclass
class Provenance:
    """Where a recording came from: source file (as given), its sha256 and format.

    Example:
        >>> from nb_core import Provenance
        >>> Provenance(source="sub-01_eeg.edf", format="edf").to_dict()
        {'source': 'sub-01_eeg.edf', 'format': 'edf'}
    """

    source: str | None = None
    sha256: str | None = None
    format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"source": self.source, "sha256": self.sha256, "format": self.format})

    @classmethod
    def from_dict(cls, d: Any, path: str = "provenance") -> Provenance:
        f = Fields(d, path)
        out = cls(source=f.opt_string("source"), sha256=f.opt_string("sha256"), format=f.opt_string("format"))
        f.done()
        return out


@dataclass
class Recording:
    """One continuous acquisition: signals (channels × times) and everything known about them.

    ``data`` may be `None` for metadata-only use (a reader that has not loaded
    signals yet); then ``n_times`` must be given.

    Args:
        id (`str`): unique within its dataset (``"sub-01_ses-1_task-rest_run-1"``).
        sfreq (`float`): sampling frequency in Hz.
        channels (`list[Channel]`): one per row of ``data``.
        data (`np.ndarray`, *optional*): signals in SI units (volts for EEG).
        meas_date (`str`, *optional*): ISO 8601 UTC time of the first sample.
        annotations (`list[Annotation]`): events and intervals.
        entities (`dict[str, str]`): BIDS entities (``subject``, ``session``, ``task``, ``run``...).
        history (`list[ProcessingStep]`): preprocessing applied, in order.
        mne_info (`dict`, *optional*): MNE's complete measurement info in MNE's own FIF
            serialisation, set by :meth:`from_mne` (``{"fif": base64, "sha256": hex, "unset":
            [keys]}``, plus float64 ``cal``/``range`` per channel where float32 would change them); :meth:`to_mne` rebuilds ``raw.info`` from it, so whatever MNE knows
            (projectors, SSS history, CTF compensation, HPI, transforms...) survives. The readable
            fields above win where they differ from it.

    Example:
        >>> import numpy as np
        >>> from nb_core import Channel, Recording
        >>> rec = Recording(id="sub-01", sfreq=100.0, channels=[Channel("Cz"), Channel("Pz")],
        ...                 data=np.zeros((2, 500)), entities={"subject": "01"})
        >>> rec.n_times, rec.duration
        (500, 5.0)
        >>> Recording.from_dict(rec.to_dict()).entities
        {'subject': '01'}
    """

    id: str
    sfreq: float
    channels: list[Channel]
    data: np.ndarray | None = None
    n_times: int | None = None
    first_samp: int = 0
    meas_date: str | None = None
    annotations: list[Annotation] = field(default_factory=list)
    annotations_orig_time: str | None = None
    dig: list[DigPoint] = field(default_factory=list)
    bads: list[str] = field(default_factory=list)
    description: str | None = None
    subject_info: dict[str, Any] | None = None
    experimenter: str | None = None
    line_freq: float | None = None
    highpass: float | None = None
    lowpass: float | None = None
    entities: dict[str, str] = field(default_factory=dict)
    provenance: Provenance | None = None
    history: list[ProcessingStep] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    mne_info: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.data is not None:
            if self.data.ndim != 2:
                raise IncompatibleDataError(
                    f"recording {self.id!r}: data must be 2-D (channels × times); got shape {self.data.shape}"
                )
            if self.n_times is None:
                self.n_times = int(self.data.shape[1])
            elif self.n_times != self.data.shape[1]:
                raise IncompatibleDataError(
                    f"recording {self.id!r}: n_times={self.n_times} but data has {self.data.shape[1]} samples"
                )
        if self.n_times is None:
            raise SchemaError("needs data or n_times", field=f"recording {self.id!r}")

    # -- convenient views -------------------------------------------------------------------------
    @property
    def ch_names(self) -> list[str]:
        return [c.name for c in self.channels]

    @property
    def ch_types(self) -> list[str]:
        return [c.type for c in self.channels]

    @property
    def units(self) -> list[str]:
        return [c.unit for c in self.channels]

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return float(self.n_times or 0) / self.sfreq

    # -- checks -----------------------------------------------------------------------------------
    def validate(self, *, allow_nonfinite: bool = False) -> Recording:
        """Check the recording as a whole; return it.

        Raises:
            SchemaError: metadata does not follow the schema.
            IncompatibleDataError: ``data`` does not match ``channels``.
            NonFiniteDataError: ``data`` has NaN/Inf and ``allow_nonfinite`` is `False`.
        """
        Recording.from_dict(self.to_dict())  # one validation path for objects and JSON
        if self.data is not None:
            if self.data.shape[0] != len(self.channels):
                raise IncompatibleDataError(
                    f"recording {self.id!r}: data has {self.data.shape[0]} rows but "
                    f"{len(self.channels)} channels are described"
                )
            if self.data.dtype.kind not in "fiuc":
                raise IncompatibleDataError(
                    f"recording {self.id!r}: data dtype {self.data.dtype} is not numeric"
                )
            if not allow_nonfinite:
                check_finite_array(self.data, what=f"recording {self.id!r}", channel_names=self.ch_names)
        return self

    # -- JSON form --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Metadata as JSON-able dict (everything but ``data``)."""
        d: dict[str, Any] = {
            "id": self.id,
            "sfreq": float(self.sfreq),
            "n_times": int(self.n_times or 0),
            "first_samp": int(self.first_samp),
            "channels": [c.to_dict() for c in self.channels],
            "meas_date": self.meas_date,
            "annotations": [a.to_dict() for a in self.annotations],
            "annotations_orig_time": self.annotations_orig_time,
            "dig": [p.to_dict() for p in self.dig],
            "bads": list(self.bads),
            "description": self.description,
            "subject_info": None
            if self.subject_info is None
            else check_json(self.subject_info, field="subject_info"),
            "experimenter": self.experimenter,
            "line_freq": self.line_freq,
            "highpass": self.highpass,
            "lowpass": self.lowpass,
            "entities": dict(self.entities),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
            "history": [s.to_dict() for s in self.history],
            "extra": check_json(self.extra, field="extra"),
            "mne_info": None if self.mne_info is None else dict(self.mne_info),
        }
        return _drop_none(d)

    @classmethod
    def from_dict(cls, d: Any, *, data: np.ndarray | None = None, path: str = "recording") -> Recording:
        """Build from :meth:`to_dict` output, validating every field."""
        f = Fields(d, path)
        rid = f.string("id")
        p = f.path = f"{path}[{rid!r}]"  # later errors name the recording
        channels = [
            Channel.from_dict(c, f"{p}.channels[{i}]")
            for i, c in enumerate(f.array("channels", required=True))
        ]
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SchemaError(f"duplicate channel names {dup}", field=f"{p}.channels")
        entities = f.object("entities")
        for k, v in entities.items():
            if not isinstance(v, str):
                raise SchemaError(f"BIDS entity values are strings; got {v!r}", field=f"{p}.entities.{k}")
        bads = f.strings("bads")
        unknown_bads = [b for b in bads if b not in names]
        if unknown_bads:
            raise SchemaError(f"bad channels {unknown_bads} are not in the channel list", field=f"{p}.bads")
        prov = f.any("provenance", required=False)
        subject_info = f.any("subject_info", required=False)
        rec = cls(
            id=rid,
            sfreq=f.number("sfreq", positive=True),
            channels=channels,
            data=data,
            n_times=f.integer("n_times", minimum=0),
            first_samp=f.opt_integer("first_samp") or 0,
            meas_date=_opt_time(f, "meas_date"),
            annotations=[
                Annotation.from_dict(a, f"{p}.annotations[{i}]") for i, a in enumerate(f.array("annotations"))
            ],
            annotations_orig_time=_opt_time(f, "annotations_orig_time"),
            dig=[DigPoint.from_dict(x, f"{p}.dig[{i}]") for i, x in enumerate(f.array("dig"))],
            bads=bads,
            description=f.opt_string("description"),
            subject_info=None
            if subject_info is None
            else check_json(Fields(subject_info, f"{p}.subject_info").obj, field=f"{p}.subject_info"),
            experimenter=f.opt_string("experimenter"),
            line_freq=f.opt_number("line_freq"),
            highpass=f.opt_number("highpass"),
            lowpass=f.opt_number("lowpass"),
            entities=entities,
            provenance=None if prov is None else Provenance.from_dict(prov, f"{p}.provenance"),
            history=[
                ProcessingStep.from_dict(s, f"{p}.history[{i}]") for i, s in enumerate(f.array("history"))
            ],
            extra=f.free_json("extra"),
            mne_info=check_mne_info(f.any("mne_info", required=False), f"{p}.mne_info"),
        )
        f.done()
        return rec

    # -- MNE --------------------------------------------------------------------------------------
    @classmethod
    def from_mne(
        cls,
        raw: mne.io.BaseRaw,
        *,
        id: str | None = None,
        entities: dict[str, str] | None = None,
        dtype: Any = np.float64,
        keep_info: bool = True,
    ) -> Recording:
        """Build a Recording from an MNE Raw (loads its data). Needs ``nb-core[mne]``.

        See :func:`nb_core.mne_adapter.recording_from_mne`.
        """
        from nb_core.mne_adapter import recording_from_mne

        return recording_from_mne(raw, id=id, entities=entities, dtype=dtype, keep_info=keep_info)

    def to_mne(self) -> mne.io.RawArray:
        """Return an ``mne.io.RawArray`` equal to the Raw this came from. Needs ``nb-core[mne]``."""
        from nb_core.mne_adapter import recording_to_mne

        return recording_to_mne(self)


@dataclass
class Window:
    """A slice ``[start, stop)`` (in samples) of a recording, with its target.

    The ``i_*_in_trial`` fields are braindecode's window metadata.

    Example:
        >>> w = Window("rec-0", start=0, stop=1000, target=2)
        >>> Window.from_dict(w.to_dict()) == w
        True
    """

    recording_id: str
    start: int
    stop: int
    target: Target = None
    i_window_in_trial: int = 0
    i_start_in_trial: int | None = None
    i_stop_in_trial: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.i_start_in_trial is None:
            self.i_start_in_trial = self.start
        if self.i_stop_in_trial is None:
            self.i_stop_in_trial = self.stop

    @property
    def size(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> dict[str, Any]:
        target = self.target.item() if isinstance(self.target, np.generic) else self.target
        d = {
            "recording_id": self.recording_id,
            "start": int(self.start),
            "stop": int(self.stop),
            "target": check_json(target, field="target"),
            "i_window_in_trial": int(self.i_window_in_trial),
            "i_start_in_trial": int(self.i_start_in_trial or 0),
            "i_stop_in_trial": int(self.i_stop_in_trial or 0),
        }
        if self.extra:
            d["extra"] = check_json(self.extra, field="extra")
        return d

    @classmethod
    def from_dict(cls, d: Any, path: str = "window") -> Window:
        f = Fields(d, path)
        target = f.any("target", required=False)
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float, str))):
            raise SchemaError(
                f"target must be int, float, str or null; got {target!r}", field=f.sub("target")
            )
        if isinstance(target, float):
            target = f.number("target")
        start, stop = f.integer("start", minimum=0), f.integer("stop", minimum=0)
        if stop <= start:
            raise SchemaError(f"stop ({stop}) must be greater than start ({start})", field=path)
        out = cls(
            recording_id=f.string("recording_id"),
            start=start,
            stop=stop,
            target=target,
            i_window_in_trial=f.opt_integer("i_window_in_trial") or 0,
            i_start_in_trial=f.opt_integer("i_start_in_trial"),
            i_stop_in_trial=f.opt_integer("i_stop_in_trial"),
            extra=f.free_json("extra"),
        )
        f.done()
        return out


def window_starts(n_times: int, size: int, stride: int | None = None) -> range:
    """Start samples of the windows of ``size`` samples, ``stride`` apart, that fit in ``n_times``.

    The one window arithmetic of neurobridge: windows start at 0, ``stride``,
    ``2 * stride``, ... and only whole windows are kept (``start + size <= n_times``),
    so there are ``max(0, (n_times - size) // stride + 1)`` of them: ``len()`` of the result.
    A recording shorter than ``size`` has none.

    Args:
        n_times (`int`): samples in the recording.
        size (`int`): samples per window (>= 1).
        stride (`int`, *optional*): samples between window starts (>= 1); defaults to ``size``.

    Returns:
        `range`: the starts; ``np.arange(r.start, r.stop, r.step)`` gives them as an array.

    Raises:
        UserError: ``size`` or ``stride`` is not a positive integer, or ``n_times`` is negative.

    Example:
        >>> list(window_starts(10, 4, 3))
        [0, 3, 6]
        >>> len(window_starts(1000, 250)), len(window_starts(100, 250))
        (4, 0)
    """
    for name, v in (("n_times", n_times), ("size", size), ("stride", stride)):
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise UserError(f"window {name} must be an integer number of samples; got {v!r}")
        if int(v) < (0 if name == "n_times" else 1):
            low = "0" if name == "n_times" else "1"
            raise UserError(f"window {name} must be >= {low} samples; got {v}")
    step = int(size) if stride is None else int(stride)
    return range(0, max(0, int(n_times) - int(size) + 1), step)


@dataclass
class Sample:
    """The unit that flows into training: a key, named arrays (modalities) and JSON metadata.

    Maps 1:1 to a WebDataset sample (``{key}.{modality}.npy`` + ``{key}.json``)
    and to a row of a Hugging Face dataset.

    Example:
        >>> import numpy as np
        >>> from nb_core import Sample
        >>> s = Sample("rec1-w0000", {"eeg": np.zeros((2, 100), "float32")}, {"target": 1})
        >>> s.validate().key, s.arrays["eeg"].shape
        ('rec1-w0000', (2, 100))
    """

    key: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def validate(self, *, allow_nonfinite: bool = True) -> Sample:
        """Check key, modality names, array dtypes and metadata; return self.

        Raises:
            SchemaError: bad key, modality name, dtype or metadata.
            NonFiniteDataError: NaN/Inf in metadata, or in arrays when ``allow_nonfinite`` is `False`.
        """
        check_key(self.key, field="sample.key")
        if not isinstance(self.arrays, dict):
            raise SchemaError("must be a dict of name -> numpy array", field=f"sample[{self.key!r}].arrays")
        for name, arr in self.arrays.items():
            fld = f"sample[{self.key!r}].arrays.{name}"
            check_modality_name(name, field=fld)
            if not isinstance(arr, np.ndarray):
                raise SchemaError(f"must be a numpy array; got {type(arr).__name__}", field=fld)
            if arr.dtype.hasobject or arr.dtype.kind in "OV":
                raise SchemaError(f"dtype {arr.dtype} cannot be stored without pickle", field=fld)
            if not allow_nonfinite:
                check_finite_array(arr, what=fld)
        self.metadata = check_json(self.metadata, field=f"sample[{self.key!r}].metadata")
        return self


#: Largest FIF measurement info :func:`check_mne_info` accepts (decoded bytes).
MAX_MNE_INFO_BYTES = 64 * 1024 * 1024
#: Info keys that reading a FIF file fills in by itself; ``unset`` lists those that were None.
MNE_INFO_UNSETTABLE = (
    "file_id",
    "meas_id",
    "dev_head_t",
    "ctf_head_t",
    "dev_ctf_t",
    "device_info",
    "helium_info",
)
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def check_mne_info(obj: Any, path: str = "mne_info") -> dict[str, Any] | None:
    """Validate the stored FIF measurement info of a Recording (see :attr:`Recording.mne_info`).

    Checks the base64 text, its size (at most :data:`MAX_MNE_INFO_BYTES`), that the bytes start
    like a FIF file and that their sha256 matches; returns the dict (or `None`).

    Raises:
        SchemaError: a field is missing or malformed.
        CorruptDataError: the bytes do not match their sha256 or are not FIF.
    """
    if obj is None:
        return None
    f = Fields(obj, path)
    text = f.string("fif")
    sha = f.string("sha256")
    unset = f.strings("unset")
    scales = {}
    for key in ("cal", "range"):
        values = f.array(key)
        if values:
            scales[key] = [check_number(v, field=f"{f.sub(key)}[{i}]") for i, v in enumerate(values)]
    f.done()
    if len(text) > MAX_MNE_INFO_BYTES * 4 // 3 + 4 or len(text) % 4 or not _B64.match(text):
        raise SchemaError(
            f"must be base64 text of at most {MAX_MNE_INFO_BYTES} bytes; got {len(text)} characters",
            field=f.sub("fif"),
        )
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise SchemaError(f"must be 64 lower-case hex digits; got {sha[:70]!r}", field=f.sub("sha256"))
    bad = [k for k in unset if k not in MNE_INFO_UNSETTABLE]
    if bad:
        raise SchemaError(
            f"unknown info keys {bad}; allowed: {list(MNE_INFO_UNSETTABLE)}", field=f.sub("unset")
        )
    raw = base64.b64decode(text)
    if hashlib.sha256(raw).hexdigest() != sha:
        raise CorruptDataError(f"{path}: the stored FIF info does not match its sha256 (corrupted)")
    # A FIF file starts with the FIFF_FILE_ID tag: kind 100, type 31 (id struct), 20 bytes.
    if raw[:12] != b"\x00\x00\x00\x64\x00\x00\x00\x1f\x00\x00\x00\x14":
        raise CorruptDataError(f"{path}: the stored info is not a FIF file")
    _check_fif_tags(raw, path)
    return {"fif": text, "sha256": sha, "unset": list(unset), **scales}


def _check_fif_tags(raw: bytes, path: str) -> None:
    """Accept only the tag layout ``mne.io.write_info`` produces: tags one after the other
    (``next`` 0), the last with ``next`` -1 ending the bytes, and no directory (pointer -1), so
    MNE reads it front to back and a hostile ``next``/``size``/directory cannot loop or jump."""
    pos, n = 0, len(raw)
    while True:
        if pos + 16 > n:
            raise CorruptDataError(f"{path}: the stored FIF info is truncated at byte {pos}")
        kind, _type, size, nxt = struct.unpack(">iIii", raw[pos : pos + 16])
        end = pos + 16 + size
        if size < 0 or end > n or nxt not in (0, -1):
            raise CorruptDataError(f"{path}: the stored FIF info has a malformed tag at byte {pos}")
        if kind == 101 and raw[pos + 16 : end] != b"\xff\xff\xff\xff":  # FIFF_DIR_POINTER
            raise CorruptDataError(
                f"{path}: the stored FIF info points to a directory (not written by nb-core)"
            )
        if nxt == -1:
            if end != n:
                raise CorruptDataError(f"{path}: the stored FIF info has {n - end} bytes after its last tag")
            return
        pos = end


def _opt_time(f: Fields, key: str) -> str | None:
    text = f.opt_string(key)
    if text is not None:
        _parse_time(text, f.sub(key))
    return text


def _parse_time(text: Any, field: str) -> _dt.datetime:
    if not isinstance(text, str):
        raise SchemaError(f"must be an ISO 8601 time; got {text!r}", field=field)
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise SchemaError(f"{text[:60]!r} is not an ISO 8601 time", field=field) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.UTC)


def annotation_spans(rec: Recording | Mapping[str, Any]) -> list[tuple[int, int, str]]:
    """``(first, stop, description)`` sample spans of a recording's annotations, in onset order.

    Samples count from sample 0 of the stored data (the recording's first sample, whatever its
    ``first_samp``); ``first`` is the sample ``mne.events_from_annotations`` gives for the
    annotation on the original Raw, minus ``first_samp``. ``stop`` is ``first`` plus the duration
    in samples (at least 1: a zero-duration annotation spans its onset sample). Spans are not
    clipped: one may start before 0 or end after ``n_times``.

    Args:
        rec (`Recording` or `dict`): a Recording or its :meth:`Recording.to_dict` form.

    Raises:
        SchemaError: a field is missing or malformed, or ``annotations_orig_time`` is set while
            ``meas_date`` is not (MNE cannot place such annotations either).

    Example:
        >>> rec = {"id": "r", "sfreq": 100.0, "first_samp": 50, "meas_date": None,
        ...        "annotations_orig_time": None,
        ...        "annotations": [{"onset": 1.5, "duration": 0.2, "description": "blink"}]}
        >>> annotation_spans(rec)  # MNE holds onsets including first_samp / sfreq = 0.5 s here
        [(100, 120, 'blink')]
    """
    d = rec.to_dict() if isinstance(rec, Recording) else rec
    f = Fields(d, "recording")
    sfreq = f.number("sfreq", positive=True)
    first_samp = f.opt_integer("first_samp") or 0
    orig, meas = d.get("annotations_orig_time"), d.get("meas_date")
    annots = [
        Annotation.from_dict(a, f"recording.annotations[{i}]") for i, a in enumerate(f.array("annotations"))
    ]
    delta: float | None = None
    if orig is not None:
        if meas is None:
            raise SchemaError(
                "annotations_orig_time is set but meas_date is not: the annotations cannot be placed "
                "on the data (MNE refuses this too); set meas_date or clear annotations_orig_time",
                field="recording.annotations_orig_time",
            )
        o = _parse_time(orig, "recording.annotations_orig_time")
        m = _parse_time(meas, "recording.meas_date")
        # As MNE's Raw.time_as_index(origin=orig_time): the first stored sample is at
        # meas_date + first_samp / sfreq (as a timedelta, microsecond resolution).
        try:
            delta = (o - (m + _dt.timedelta(0, first_samp / sfreq))).total_seconds()
        except OverflowError:
            raise SchemaError(
                f"first_samp {first_samp} at {sfreq} Hz is out of the date range",
                field="recording.first_samp",
            ) from None
    out = []
    for i, a in enumerate(annots):
        at = (a.onset + delta) * sfreq if delta is not None else a.onset * sfreq
        length = a.duration * sfreq
        if not (abs(at) < 2**62 and abs(length) < 2**62):
            raise SchemaError(
                f"onset {a.onset} s / duration {a.duration} s at {sfreq} Hz is out of range",
                field=f"recording.annotations[{i}]",
            )
        # With orig_time None, MNE holds onsets including first_samp / sfreq.
        first = round(at) if delta is not None else round(at) - first_samp
        out.append((first, first + max(1, round(length)), a.description))
    out.sort(key=lambda t: t[0])
    return out
