"""read_raw / is_mne_input / recording_id / modality_of: one resolver for every MNE-readable input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mne
import numpy as np
import pytest

from nb_core import Manifest, Recording
from nb_core.errors import (
    CorruptDataError,
    InputNotFoundError,
    NBError,
    UnsupportedFormatError,
    UserError,
)
from nb_core.mne_adapter import (
    is_mne_input,
    modality_of,
    parse_reader_options,
    read_raw,
    recording_id,
    source_path,
)
from nb_core.testing import simulate_raw, write_brainvision, write_edf

_DATA = np.random.default_rng(0).normal(size=(3, 1000)) * 1e-5
_NAMES = ["Fp1", "Fp2", "Cz"]


def test_fif_with_reader_options(tmp_path: Path) -> None:
    raw = simulate_raw(n_channels=3, duration=2.0, seed=1)
    path = tmp_path / "sub-01_task-rest_eeg.fif"
    raw.save(path, fmt="double", verbose="error")
    lazy = read_raw(path)
    assert not lazy.preload
    assert read_raw(path, preload=True).preload
    # MaxShield files need allow_maxshield; it is passed through to read_raw_fif.
    got = read_raw(path, allow_maxshield=True)
    np.testing.assert_array_equal(got.get_data(), raw.get_data())
    assert Recording.from_mne(lazy).id == "sub-01_task-rest_eeg"
    with pytest.raises(UserError, match=r"FIF reader \(mne.io.read_raw_fif\) has no option\(s\) 'eog'"):
        read_raw(path, eog=["Fp1"])


def test_maxshield_fif_needs_allow_maxshield(tmp_path: Path) -> None:
    """A MaxShield file: the raw data block is FIFFB_IAS_RAW_DATA (119) instead of FIFFB_RAW_DATA (102)."""
    import struct

    path = tmp_path / "ias_raw.fif"
    simulate_raw(n_channels=3, duration=1.0, seed=2).save(path, verbose="error")
    b = bytearray(path.read_bytes())
    start = struct.pack(">iii", 104, 3, 4)  # FIFF_BLOCK_START tag, int, 4 bytes
    i = b.find(start)
    while i >= 0 and struct.unpack(">i", b[i + 16 : i + 20])[0] != 102:
        i = b.find(start, i + 1)
    assert i >= 0
    b[i + 16 : i + 20] = struct.pack(">i", 119)
    path.write_bytes(bytes(b))
    with pytest.raises(UserError, match="MaxShield .* allow_maxshield=True") as info:
        read_raw(path)
    assert str(info.value).startswith(f"{path}: ")
    assert read_raw(path, allow_maxshield=True, preload=True).n_times == 250


def test_brainvision_file(tmp_path: Path) -> None:
    vhdr = write_brainvision(
        tmp_path / "run.1.vhdr",
        _DATA,
        250.0,
        _NAMES,
        markers=[("S  1", 100)],
        meas_date=dt.datetime(2020, 1, 1, 12),
    )
    assert is_mne_input(vhdr)
    raw = read_raw(vhdr, preload=True)
    np.testing.assert_allclose(raw.get_data(), _DATA, rtol=1e-6, atol=1e-12)
    rec = Recording.from_mne(raw)
    assert rec.id == "run_1"  # from the header's name, dots never reach sample keys
    assert rec.provenance is not None and rec.provenance.source == str(vhdr)
    # The .eeg and .vmrk beside it are not the recording.
    for companion in ("run.1.vmrk", "run.1.eeg"):
        assert not is_mne_input(tmp_path / companion)
        with pytest.raises(UnsupportedFormatError, match=r"give .*run\.1\.vhdr"):
            read_raw(tmp_path / companion)


def test_edf_file(tmp_path: Path) -> None:
    path = write_edf(tmp_path / "night.EDF", _DATA, 250, _NAMES)
    raw = read_raw(path)
    assert raw.ch_names == _NAMES and raw.n_times == 1000
    np.testing.assert_allclose(raw.get_data(), _DATA, atol=1e-7)
    assert recording_id(path) == "night"


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("broken.edf", b"0       garbage", "EDF"),
        ("broken.vhdr", b"not a header", "BrainVision"),
        ("broken.fif", b"\x00" * 64, "FIF"),
        ("broken.set", b"MATLAB 5.0 junk", "EEGLAB"),
        ("broken.con", b"\x01" * 200, "KIT"),
        ("broken.cnt", b"\x02" * 900, "Neuroscan CNT or ANT"),
        ("broken.gdf", b"GDF 2.20" + b"\x00" * 300, "GDF"),
        ("broken.lay", b"[FileInfo]\nFile=missing.dat\n", "Persyst"),
        ("broken.nxe", b"\x00" * 100, "eXimia"),
    ],
)
def test_corrupt_file_is_one_line_error(tmp_path: Path, name: str, content: bytes, fmt: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert is_mne_input(path)
    with pytest.raises(NBError) as info:
        read_raw(path, preload=True)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "\n" not in msg and "Traceback" not in msg
    if isinstance(info.value, CorruptDataError):
        assert f"cannot be read as {fmt}" in msg


@pytest.mark.parametrize("kind", ["ds", "mff", "bti"])
def test_directory_formats_are_resolved(tmp_path: Path, kind: str) -> None:
    d = tmp_path / {"ds": "run1.ds", "mff": "night.mff", "bti": "run1"}[kind]
    d.mkdir()
    (d / ("c,rfDC" if kind == "bti" else "junk.bin")).write_bytes(b"\x00" * 64)
    assert is_mne_input(d)
    with pytest.raises(NBError) as info:  # CorruptDataError, or the reader's missing dependency
        read_raw(d)
    assert str(info.value).startswith(f"{d}: ") and "\n" not in str(info.value)
    assert {"ds": "CTF", "mff": "EGI MFF", "bti": "BTi/4D"}[kind] in str(info.value)


def test_missing_unsupported_and_artifact_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such file") as info:
        read_raw(tmp_path / "nope.edf")
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "data.xyz").write_bytes(b"1")
    assert not is_mne_input(tmp_path / "data.xyz")
    with pytest.raises(UnsupportedFormatError, match=r"data.xyz: unsupported recording file type '.xyz'"):
        read_raw(tmp_path / "data.xyz")
    plain = tmp_path / "folder"
    plain.mkdir()
    assert not is_mne_input(plain)
    with pytest.raises(UnsupportedFormatError, match="not an MNE-readable recording"):
        read_raw(plain)
    art = tmp_path / "art"
    art.mkdir()
    Manifest(name="x", layout="hdf5").write(art)
    assert not is_mne_input(art)
    with pytest.raises(UnsupportedFormatError, match="neurobridge artifact"):
        read_raw(art)


def test_recording_ids_come_from_the_input_path() -> None:
    assert recording_id("a/sub-01_eeg.fif") == "sub-01_eeg"
    assert recording_id("a/sub-01_eeg.fif.gz") == "sub-01_eeg"
    assert recording_id("a/night1.mff/") == "night1"
    assert recording_id("a/run.ds") == "run"
    assert recording_id("a/subj7/c,rfDC") == "subj7"
    assert recording_id("a/x.cdt.dpa") == "x"

    class _FileBacked:  # what MNE's EGI/CTF readers list: a file inside the recording's folder
        filenames = ("/data/night1.mff/signal1.bin",)

    assert source_path(_FileBacked()) == "/data/night1.mff"  # type: ignore[arg-type]
    _FileBacked.filenames = ("/data/other.mff/signal1.bin",)
    assert recording_id(source_path(_FileBacked()) or "") == "other"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("types", "modality"),
    [
        (["mag", "grad", "grad", "stim", "misc", "eog", "ecg"], "meg"),
        (["ref_meg", "mag"], "meg"),
        (["eeg", "eog", "stim"], "eeg"),
        (["seeg", "ecg", "stim"], "ieeg"),
        (["ecog"], "ieeg"),
        (["dbs", "misc"], "ieeg"),
        (["hbo", "hbr", "stim"], "nirs"),
        (["fnirs_cw_amplitude"], "nirs"),
        (["eyegaze", "pupil", "stim"], "eyetrack"),
        (["emg", "emg"], "emg"),
        (["stim"], "stim"),
        (["ecg", "resp"], "physio"),
        (["stim", "misc"], "misc"),
    ],
)
def test_modality_of(types: list[str], modality: str) -> None:
    assert modality_of(types) == modality


def test_modality_of_real_meg_mix() -> None:
    info = mne.create_info(
        ["MEG 0111", "MEG 0112", "STI 014", "EOG 061"], 100.0, ["mag", "grad", "stim", "eog"]
    )
    raw = mne.io.RawArray(np.zeros((4, 10)), info, verbose="error")
    assert modality_of(raw.get_channel_types()) == "meg"
    with pytest.raises(UserError):
        modality_of([])


def test_parse_reader_options() -> None:
    assert parse_reader_options(None) == {}
    got = parse_reader_options(["allow_maxshield=true", 'eog=["E1", "E2"]', "encoding=latin-1", "x=3"])
    assert got == {"allow_maxshield": True, "eog": ["E1", "E2"], "encoding": "latin-1", "x": 3}
    for bad in (["novalue"], ["=1"], ["a-b=1"], ["a=1", "a=2"]):
        with pytest.raises(UserError, match="--reader-option"):
            parse_reader_options(bad)


def _write_eyelink_asc(path: Path) -> Path:
    """A minimal EyeLink ASC file (the text export of an EDF eye-tracking file): 200 samples at 500 Hz."""
    head = [
        "** CONVERTED FROM D:\\test.edf using edfapi 4.2.1 Dec  2 2020",
        "** DATE: Wed Dec  2 04:00:00 2026",
        "** TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED",
        "** VERSION: EYELINK II 1",
        "** SOURCE: EYELINK CL",
        "** EYELINK II CL v6.12 Feb  1 2018 (EyeLink Portable Duo)",
        "** CAMERA: EyeLink USBCAM Version 1.01",
        "** SERIAL NUMBER: CLU-DAB50",
        "** CAMERA_CONFIG: DAB50200.SCD",
        "**",
        "MSG\t1000 DISPLAY_COORDS 0 0 1919 1079",
        "START\t1000 \tLEFT\tSAMPLES\tEVENTS",
        "PRESCALER\t1",
        "VPRESCALER\t1",
        "PUPIL\tAREA",
        "EVENTS\tGAZE\tLEFT\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2",
        "SAMPLES\tGAZE\tLEFT\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2",
    ]
    samples = [f"{1000 + 2 * i}\t  {900 + i % 7:.1f}\t  {500 + i % 5:.1f}\t 1200.0\t..." for i in range(200)]
    tail = ["MSG\t1100 trial_start", "END\t1400 \tSAMPLES\tEVENTS\tRES\t  38.54\t  31.12"]
    path.write_text("\n".join(head + samples + tail) + "\n", encoding="ascii")
    return path


def test_eyelink_reader_without_preload_option(tmp_path: Path) -> None:
    """read_raw_eyelink takes no ``preload``: read_raw must not pass it (the CLI crashed on it)."""
    path = _write_eyelink_asc(tmp_path / "sub-01_eyetrack.asc")
    for preload in (False, True):
        raw = read_raw(path, preload=preload)
        assert raw.get_channel_types() == ["eyegaze", "eyegaze", "pupil"] and raw.n_times == 200
    assert modality_of(raw.get_channel_types()) == "eyetrack"
    assert Recording.from_mne(raw).id == "sub-01_eyetrack"
