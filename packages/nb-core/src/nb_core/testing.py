"""Realistic, offline, deterministic data for tests and examples (``pip install "nb-core[testing]"``).

- :func:`simulate_raw`: EEG as an ``mne.io.RawArray`` on the ``colin27_1020``
  montage, with background activity, an alpha rhythm and ERP-like responses,
  coloured sensor noise from ``mne.simulation.add_noise``, annotations/events,
  measurement date, subject info and a line frequency.
- :func:`simulate_recordings` / :func:`simulate_windows`: several recordings as
  :class:`~nb_core.schema.Recording`, and a windowed dataset with targets and
  braindecode window metadata.
- :func:`make_nifti` / :func:`write_nifti`: small real NIfTI-1/2 images (3-D or 4-D) via nibabel.
- :func:`write_brainvision` / :func:`write_edf`: real BrainVision and EDF files (no exporter
  package needed), for testing readers of recording files.

Everything is a pure function of its arguments and ``seed``; the small
variants take well under a second.

Example:
    >>> raw = simulate_raw(n_channels=8, sfreq=100.0, duration=2.0, seed=1)
    >>> raw.info["nchan"], int(raw.n_times)
    (8, 200)
    >>> recs, windows = simulate_windows(n_recordings=2, n_channels=4, window_size=100)
    >>> len(recs), windows[0].stop - windows[0].start
    (2, 100)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import signal
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_core.schema import ProcessingStep, Recording, Window, window_starts
from nb_core.validation import soft_import

if TYPE_CHECKING:
    import mne
    import nibabel

__all__ = [
    "MONTAGE",
    "DeadlineExceeded",
    "deadline",
    "make_nifti",
    "simulate_raw",
    "simulate_recordings",
    "simulate_windows",
    "write_brainvision",
    "write_edf",
    "write_nifti",
]


class DeadlineExceeded(BaseException):
    """A body under :func:`deadline` ran too long (a hang).

    A `BaseException`, so that no ``except OSError``/``except Exception`` in the code under test
    can turn a hang into an ordinary error and hide it.
    """


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`DeadlineExceeded` when the body runs longer than ``seconds`` (main thread, POSIX).

    Example:
        >>> with deadline(5):
        ...     _ = sum(range(10))
    """

    def fire(signum: int, frame: Any) -> None:
        raise DeadlineExceeded(f"still running after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


#: The standard montage used for simulated EEG (``standard_1020`` is deprecated in MNE).
MONTAGE = "colin27_1020"
_EVENT_IDS = {"left_hand": 1, "right_hand": 2, "feet": 3, "tongue": 4}


def _channel_names(mne: Any, n_channels: int) -> list[str]:
    names = mne.channels.make_standard_montage(MONTAGE).ch_names
    # Prefer the classic 10-20 positions first, then the rest of the montage.
    classic = [
        "Fp1",
        "Fp2",
        "F7",
        "F3",
        "Fz",
        "F4",
        "F8",
        "T7",
        "C3",
        "Cz",
        "C4",
        "T8",
        "P7",
        "P3",
        "Pz",
        "P4",
        "P8",
        "O1",
        "Oz",
        "O2",
        "Fpz",
    ]
    ordered = [n for n in classic if n in names] + [n for n in names if n not in classic]
    if n_channels > len(ordered):
        raise ValueError(f"n_channels must be at most {len(ordered)} for montage {MONTAGE}")
    return ordered[:n_channels]


def simulate_raw(
    n_channels: int = 21,
    sfreq: float = 250.0,
    duration: float = 10.0,
    *,
    seed: int = 0,
    n_events: int | None = None,
    n_eog: int = 0,
    subject: str = "01",
    meas_date: _dt.datetime | None = None,
    verbose: str | bool | None = "error",
) -> mne.io.RawArray:
    """Simulated EEG as an MNE Raw with montage, annotations and Info metadata.

    Args:
        n_channels (`int`, *optional*, defaults to 21): EEG channels (up to 94).
        sfreq (`float`, *optional*, defaults to 250.0): sampling rate in Hz.
        duration (`float`, *optional*, defaults to 10.0): seconds.
        seed (`int`, *optional*, defaults to 0): everything derives from it.
        n_events (`int`, *optional*): motor-imagery style events (annotations);
            defaults to one every 2 s.
        n_eog (`int`, *optional*, defaults to 0): extra EOG channels (no montage position).
        subject (`str`, *optional*, defaults to ``"01"``): subject id in ``subject_info``.
        meas_date (`datetime`, *optional*): defaults to a fixed date derived from ``seed``.

    Returns:
        `mne.io.RawArray`: signals in volts (float64), montage ``colin27_1020`` set,
        annotations with ``orig_time`` equal to the measurement date.
    """
    mne = soft_import("mne", "Simulating EEG", extra="nb-core[testing]")
    rng = np.random.default_rng(seed)
    n_times = round(duration * sfreq)
    eeg_names = _channel_names(mne, n_channels)
    ch_names = eeg_names + [f"EOG{i + 1}" for i in range(n_eog)]
    ch_types = ["eeg"] * n_channels + ["eog"] * n_eog
    info = mne.create_info(ch_names, sfreq, ch_types)
    t = np.arange(n_times) / sfreq
    # Background: a posterior alpha rhythm with per-channel phase and amplitude, plus 1/f-ish drift.
    data = np.zeros((len(ch_names), n_times))
    alpha_f = 9.0 + rng.random() * 3.0
    phase = rng.uniform(0, 2 * np.pi, size=(len(ch_names), 1))
    amp = rng.uniform(2e-6, 10e-6, size=(len(ch_names), 1))
    data += amp * np.sin(2 * np.pi * alpha_f * t + phase)
    data += np.cumsum(rng.normal(0, 2e-7, size=data.shape), axis=1) * 0.05
    # Event-related responses.
    n_ev = max(1, int(duration // 2)) if n_events is None else n_events
    onsets = np.sort(rng.uniform(0.2, max(duration - 1.0, 0.3), size=n_ev))
    labels = rng.choice(list(_EVENT_IDS), size=n_ev)
    erp_t = np.arange(int(0.6 * sfreq)) / sfreq
    erp = 5e-6 * np.exp(-((erp_t - 0.3) ** 2) / (2 * 0.05**2))
    for on in onsets:
        i0 = int(on * sfreq)
        seg = erp[: max(0, min(len(erp), n_times - i0))]
        data[:n_channels, i0 : i0 + len(seg)] += seg * rng.uniform(0.5, 1.5, size=(n_channels, 1))
    raw = mne.io.RawArray(data, info, verbose=verbose)
    raw.set_montage(MONTAGE, verbose=verbose)
    # Coloured sensor noise with MNE's own simulation tools.
    cov = mne.make_ad_hoc_cov(raw.info, verbose=verbose)
    # MNE advises an average-reference projector for a real covariance ("No average EEG reference
    # present ..."); this one is ad hoc. MNE prints that advice through its logger, to standard output
    # (into doctest output) whatever ``verbose`` says when a caller's log handler is active, so the
    # condition is removed at its source: the reference counts as set while the noise is added
    # (the noise is the same either way) and is put back after.
    ref = raw.info["custom_ref_applied"]
    with raw.info._unlock():
        raw.info["custom_ref_applied"] = mne.io.constants.FIFF.FIFFV_MNE_CUSTOM_REF_ON
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No average EEG reference", category=RuntimeWarning)
            mne.simulation.add_noise(raw, cov, iir_filter=[0.2, -0.2, 0.04], rng=seed, verbose=verbose)
    finally:
        with raw.info._unlock():
            raw.info["custom_ref_applied"] = ref
    date = meas_date or _dt.datetime(2024, 1, 1, 9, 0, 0, tzinfo=_dt.UTC) + _dt.timedelta(
        days=int(seed % 365), seconds=int(seed % 3600)
    )
    raw.set_meas_date(date)
    raw.set_annotations(
        mne.Annotations(onset=onsets, duration=np.full(n_ev, 0.5), description=list(labels), orig_time=date)
    )
    with raw.info._unlock():
        raw.info["line_freq"] = 50.0
        raw.info["description"] = f"neurobridge simulated EEG (seed={seed})"
        raw.info["experimenter"] = "nb_core.testing"
        raw.info["subject_info"] = {
            "his_id": f"sub-{subject}",
            "sex": int(1 + seed % 2),
            "hand": 1,
            "birthday": _dt.date(1990, 1, 1 + seed % 28),
        }
    return raw


def simulate_recordings(
    n_recordings: int = 3,
    n_channels: int = 21,
    sfreq: float = 250.0,
    duration: float = 10.0,
    *,
    seed: int = 0,
    dtype: Any = np.float64,
) -> list[Recording]:
    """Several simulated recordings (subjects ``01``, ``02``...) as Recordings with BIDS entities.

    Each carries a one-step preprocessing history, so writers and readers can
    prove that the history is kept.
    """
    from nb_core.mne_adapter import recording_from_mne

    recs = []
    for i in range(n_recordings):
        sub = f"{i + 1:02d}"
        raw = simulate_raw(n_channels, sfreq, duration, seed=seed + i, subject=sub)
        entities = {"subject": sub, "session": "01", "task": "motorimagery", "run": "1"}
        rec = recording_from_mne(
            raw, id=f"sub-{sub}_ses-01_task-motorimagery_run-1", entities=entities, dtype=dtype
        )
        rec.history.append(
            ProcessingStep("simulate", {"seed": seed + i, "sfreq": sfreq}, software="nb_core.testing")
        )
        recs.append(rec)
    return recs


def simulate_windows(
    n_recordings: int = 3,
    n_channels: int = 21,
    sfreq: float = 250.0,
    duration: float = 10.0,
    *,
    window_size: int = 250,
    stride: int | None = None,
    target: str = "int",
    seed: int = 0,
    dtype: Any = np.float32,
) -> tuple[list[Recording], list[Window]]:
    """A windowed dataset: recordings plus windows with targets and braindecode metadata.

    Args:
        window_size (`int`, *optional*, defaults to 250): samples per window.
        stride (`int`, *optional*): samples between window starts; defaults to ``window_size``.
        target (`str`, *optional*, defaults to ``"int"``): ``"int"`` (class index), ``"float"``
            (regression) or ``"str"`` (label).
        dtype (*optional*, defaults to `np.float32`): dtype of the recordings' data.

    Returns:
        `tuple[list[Recording], list[Window]]`
    """
    stride = stride or window_size
    recs = simulate_recordings(n_recordings, n_channels, sfreq, duration, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 10_000)
    labels = list(_EVENT_IDS)
    windows = []
    for rec in recs:
        n_times = rec.n_times or 0
        starts = window_starts(n_times, window_size, stride)
        for i, s in enumerate(starts):
            cls = int(rng.integers(len(labels)))
            tgt: int | float | str = cls
            if target == "float":
                tgt = float(rng.normal())
            elif target == "str":
                tgt = labels[cls]
            windows.append(
                Window(
                    rec.id,
                    s,
                    s + window_size,
                    target=tgt,
                    i_window_in_trial=i,
                    i_start_in_trial=s,
                    i_stop_in_trial=s + window_size,
                )
            )
    return recs, windows


def make_nifti(
    shape: tuple[int, ...] = (16, 16, 12),
    *,
    voxel_size: tuple[float, ...] = (2.0, 2.0, 2.5),
    tr: float = 2.0,
    dtype: Any = np.int16,
    seed: int = 0,
    nifti2: bool = False,
) -> nibabel.Nifti1Image:
    """A small real NIfTI image: a smooth head-like blob plus noise; 4-D shapes get a TR.

    Args:
        shape (`tuple`, *optional*): 3-D ``(x, y, z)`` or 4-D ``(x, y, z, t)``.
        voxel_size (`tuple`, *optional*): millimetres along x, y, z.
        tr (`float`, *optional*, defaults to 2.0): repetition time for 4-D images, in seconds.
        dtype (*optional*, defaults to `np.int16`): on-disk data type.
        nifti2 (`bool`, *optional*, defaults to `False`): make a NIfTI-2 image.
    """
    nib = soft_import("nibabel", "Making NIfTI images", extra="nb-core[testing]")
    if len(shape) not in (3, 4):
        raise ValueError(f"shape must be 3-D or 4-D; got {shape}")
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape[:3]], indexing="ij")
    blob = np.exp(-(grid[0] ** 2 + grid[1] ** 2 + grid[2] ** 2) * 2.0) * 1000
    vol = blob if len(shape) == 3 else blob[..., None] * (1 + 0.05 * np.sin(np.arange(shape[3]) / 3.0))
    vol = vol + rng.normal(0, 10, size=shape)
    arr = np.asarray(vol).astype(dtype)
    affine = np.diag([*voxel_size[:3], 1.0])
    affine[:3, 3] = [-(n * v) / 2 for n, v in zip(shape[:3], voxel_size[:3], strict=True)]
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(arr, affine)
    zooms = tuple(voxel_size[:3]) + ((tr,) if len(shape) == 4 else ())
    img.header.set_zooms(zooms)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    return img


def write_nifti(path: str | os.PathLike[str], shape: tuple[int, ...] = (16, 16, 12), **kwargs: Any) -> Path:
    """Write :func:`make_nifti` to ``path`` (``.nii`` or ``.nii.gz``); return the path."""
    nib = soft_import("nibabel", "Writing NIfTI images", extra="nb-core[testing]")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nib.save(make_nifti(shape, **kwargs), p)
    return p


def write_brainvision(
    path: str | os.PathLike[str],
    data: np.ndarray,
    sfreq: float,
    ch_names: list[str],
    *,
    markers: Sequence[tuple[str, int]] = (),
    meas_date: _dt.datetime | None = None,
) -> Path:
    """Write a BrainVision recording (``path`` = the .vhdr, plus .vmrk and .eeg) without pybv.

    Follows the BrainVision Core Data Format 1.0: multiplexed IEEE float32 samples in µV.

    Args:
        path (`Path`): the .vhdr file to write.
        data (`np.ndarray`): channels × times, in volts.
        sfreq (`float`): sampling rate in Hz.
        ch_names (`list[str]`): one per row.
        markers (*optional*): ``(description, sample)`` stimulus markers, 0-based samples.
        meas_date (`datetime`, *optional*): written as the "New Segment" time.

    Example:
        >>> import tempfile
        >>> p = write_brainvision(Path(tempfile.mkdtemp()) / "r.vhdr", np.zeros((2, 100)), 100.0, ["C3", "C4"])
        >>> sorted(x.suffix for x in p.parent.iterdir())
        ['.eeg', '.vhdr', '.vmrk']
    """
    path = Path(path)
    eeg, vmrk = path.with_name(path.stem + ".eeg"), path.with_name(path.stem + ".vmrk")
    (data.T * 1e6).astype("<f4").tofile(eeg)
    chans = "\n".join(f"Ch{i + 1}={n},,1,µV" for i, n in enumerate(ch_names))
    path.write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={eeg.name}\nMarkerFile={vmrk.name}\n"
        "DataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(ch_names)}\nSamplingInterval={1e6 / sfreq:g}\n"
        "[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n"
        f"[Channel Infos]\n{chans}\n",
        encoding="utf-8",
    )
    lines = []
    if meas_date is not None:
        lines.append(f"Mk1=New Segment,,1,1,0,{meas_date.strftime('%Y%m%d%H%M%S%f')}")
    for desc, sample in markers:
        lines.append(f"Mk{len(lines) + 1}=Stimulus,{desc},{sample + 1},1,0")
    vmrk.write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={eeg.name}\n[Marker Infos]\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    return path


def write_edf(path: str | os.PathLike[str], data: np.ndarray, sfreq: int, ch_names: list[str]) -> Path:
    """Write a plain EDF file without edfio: 1-second records, 16-bit samples over ±1 mV (µV).

    Follows the EDF specification (Kemp et al., 1992); the start time is 2020-01-01 12:00:00.
    Samples beyond the last whole second are dropped.

    Example:
        >>> import tempfile
        >>> p = write_edf(Path(tempfile.mkdtemp()) / "r.edf", np.zeros((2, 300)), 100, ["C3", "C4"])
        >>> p.stat().st_size == 256 * 3 + 2 * 300 * 2
        True
    """
    path = Path(path)
    n_ch, n_times = data.shape
    n_rec = n_times // sfreq
    pmin, pmax, dmin, dmax = -1000.0, 1000.0, -32768, 32767

    def f(text: object, width: int) -> bytes:
        return str(text).ljust(width)[:width].encode("ascii")

    head = (
        f("0", 8)
        + f("X X X X", 80)
        + f("Startdate 01-JAN-2020 X X X", 80)
        + f("01.01.20", 8)
        + f("12.00.00", 8)
        + f(256 * (n_ch + 1), 8)
        + f("", 44)
        + f(n_rec, 8)
        + f(1, 8)
        + f(n_ch, 4)
    )
    for field, width in (
        (ch_names, 16),
        (["AgAgCl electrode"] * n_ch, 80),
        (["uV"] * n_ch, 8),
        ([pmin] * n_ch, 8),
        ([pmax] * n_ch, 8),
        ([dmin] * n_ch, 8),
        ([dmax] * n_ch, 8),
        ([""] * n_ch, 80),
        ([sfreq] * n_ch, 8),
        ([""] * n_ch, 32),
    ):
        head += b"".join(f(v, width) for v in field)
    digital = np.round((data[:, : n_rec * sfreq] * 1e6 - pmin) / (pmax - pmin) * (dmax - dmin) + dmin)
    digital = np.clip(digital, dmin, dmax).astype("<i2")
    records = digital.reshape(n_ch, n_rec, sfreq).transpose(1, 0, 2)
    path.write_bytes(head + records.tobytes())
    return path
