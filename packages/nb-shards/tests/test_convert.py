from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core import Manifest
from nb_core.errors import (
    CorruptDataError,
    IncompatibleDataError,
    InputNotFoundError,
    UnsupportedFormatError,
)
from nb_core.testing import simulate_raw, simulate_windows
from nb_shards import IndexedShards, verify
from nb_shards.convert import write_inputs


def _digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def fif_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("raw")
    out = []
    for i in range(3):
        raw = simulate_raw(n_channels=4, sfreq=100.0, duration=6.0 + i, seed=i)
        p = d / f"sub-0{i + 1}_raw.fif"
        raw.save(p, verbose="error")
        out.append(p)
    return out


def test_mne_recordings_windowed_on_the_fly(fif_files: list[Path], tmp_path: Path) -> None:
    import mne

    m = write_inputs(fif_files, tmp_path / "s", window=2.0, stride=1.0, max_count=4, max_workers=0)
    # 6 s, 7 s and 8 s at 2 s windows / 1 s stride: 5 + 6 + 7 windows
    assert m.splits == {"train": 18}
    spec = m.modalities["eeg"]
    assert spec.shape == [4, 200] and spec.sfreq == 100.0 and spec.unit == "V" and spec.ch_names is not None
    assert [r.id for r in m.recordings] == ["sub-01_raw", "sub-02_raw", "sub-03_raw"]
    ds = IndexedShards(tmp_path / "s")
    s = ds[7]  # second recording, window 2 (starts at 2 s)
    assert s["__key__"] == "sub-02_raw_000002" and s["json"]["start"] == 200
    raw = mne.io.read_raw(fif_files[1], verbose="error")
    np.testing.assert_allclose(s["eeg"], raw.get_data(start=200, stop=400).astype("float32"))
    assert verify(tmp_path / "s")["samples"] == 18


def test_parallel_write_is_deterministic_and_resumes(fif_files: list[Path], tmp_path: Path) -> None:
    inline = write_inputs(fif_files, tmp_path / "a", window=1.0, max_count=5, max_workers=0, name="x")
    pooled = write_inputs(fif_files, tmp_path / "b", window=1.0, max_count=5, max_workers=2, name="x")
    assert inline.to_json() == pooled.to_json()
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    # A crash on the last input keeps the finished parts; the re-run reuses them.
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(3))  # 1-D: nothing to shard
    with pytest.raises(IncompatibleDataError, match="two or more dimensions"):
        write_inputs([*fif_files, bad], tmp_path / "c", window=1.0, max_count=5, max_workers=0, name="x")
    parts = sorted((tmp_path / "c").glob(".nb-tmp-parts-train/part-*/nb-manifest.json"))
    assert len(parts) == 3 and not (tmp_path / "c" / "nb-manifest.json").exists()
    before = {p: p.stat().st_mtime_ns for p in parts}
    write_inputs(fif_files, tmp_path / "c", window=1.0, max_count=5, max_workers=0, name="x")
    assert _digests(tmp_path / "c") == _digests(tmp_path / "a")
    assert all(not p.exists() for p in before)  # parts cleaned up after success


def test_dask_scheduler(fif_files: list[Path], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        m = write_inputs(
            fif_files[:2], tmp_path / "d", window=2.0, scheduler=cluster.scheduler_address, name="x"
        )
    ref = write_inputs(fif_files[:2], tmp_path / "r", window=2.0, max_workers=0, name="x")
    assert m.to_json() == ref.to_json()


def test_npy_and_npz_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3, 20)).astype("float32")
    np.savez(tmp_path / "train.npz", eeg=x, y=np.arange(12) % 3)
    np.save(tmp_path / "more.npy", x[:5])
    m = write_inputs([tmp_path / "train.npz", tmp_path / "more.npy"], tmp_path / "o", max_workers=0)
    assert m.splits == {"train": 17}
    ds = IndexedShards(tmp_path / "o")
    assert ds[4]["json"] == {"y": 1} and ds[4]["__key__"] == "train_000004"
    np.testing.assert_array_equal(ds[13]["eeg"], x[1])
    np.savez(tmp_path / "obj.npz", eeg=np.array([[{"a": 1}]], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        write_inputs([tmp_path / "obj.npz"], tmp_path / "p", max_workers=0)
    with pytest.raises(InputNotFoundError):
        write_inputs([tmp_path / "x.unknown"], tmp_path / "q", max_workers=0)
    (tmp_path / "x.unknown").write_text("?")
    with pytest.raises(UnsupportedFormatError):
        write_inputs([tmp_path / "x.unknown"], tmp_path / "q", max_workers=0)


def test_mismatched_inputs_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 4), "float32"))
    np.save(tmp_path / "b.npy", np.zeros((2, 3, 5), "float32"))
    with pytest.raises(IncompatibleDataError, match="modality 'eeg'"):
        write_inputs([tmp_path / "a.npy", tmp_path / "b.npy"], tmp_path / "o", max_workers=0)
    assert not (tmp_path / "o" / "nb-manifest.json").exists()


def test_nwb_input(tmp_path: Path) -> None:
    pynwb = pytest.importorskip("pynwb")
    import datetime as dt

    from pynwb.ecephys import ElectricalSeries

    nwb = pynwb.NWBFile(
        session_description="test",
        identifier="nb-shards-test",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    dev = nwb.create_device(name="amp")
    grp = nwb.create_electrode_group(name="g", description="eeg", location="scalp", device=dev)
    nwb.add_electrode_column(name="label", description="channel name")
    for name in ["Cz", "Pz", "Oz"]:
        nwb.add_electrode(group=grp, location="scalp", label=name)
    region = nwb.create_electrode_table_region(region=[0, 1, 2], description="all")
    data = np.arange(300 * 3, dtype="int16").reshape(300, 3)
    nwb.add_acquisition(
        ElectricalSeries(name="eeg", data=data, electrodes=region, rate=100.0, conversion=1e-6)
    )
    path = tmp_path / "rec.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    m = write_inputs([path], tmp_path / "o", window=1.0, max_workers=0)
    assert m.splits == {"train": 3} and m.modalities["eeg"].ch_names == ["Cz", "Pz", "Oz"]
    s = IndexedShards(tmp_path / "o")[1]
    np.testing.assert_allclose(s["eeg"], (data[100:200].T * 1e-6).astype("float32"))


def test_nb_formats_artifact_input(tmp_path: Path) -> None:
    nbf = pytest.importorskip("nb_formats")
    recs, windows = simulate_windows(n_recordings=2, n_channels=4, sfreq=100.0, duration=4.0, window_size=100)
    src = tmp_path / "eeg.h5"
    nbf.write((recs, windows), src, format="hdf5")
    ds = nbf.open(src)
    m = write_inputs([src], tmp_path / "o", max_workers=0)
    assert m.splits == {"train": len(ds)}
    got = IndexedShards(tmp_path / "o")
    ref = ds.sample(3)
    np.testing.assert_array_equal(got[3]["eeg"], ref.arrays["eeg"])
    assert got[3]["json"] == ref.metadata and got[3]["__key__"] == f"eeg_{ref.key}"
    assert Manifest.read(tmp_path / "o").layout == "shards"
    # one large input split into tasks: the same output inline and on two processes
    a = write_inputs([src], tmp_path / "a", items_per_task=3, max_count=2, max_workers=0, name="x")
    b = write_inputs([src], tmp_path / "b", items_per_task=3, max_count=2, max_workers=2, name="x")
    assert a.to_json() == b.to_json() and _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert [IndexedShards(tmp_path / "a").key(i) for i in range(len(ds))] == [
        f"eeg_{ds.sample(i).key}" for i in range(len(ds))
    ]


def _meg_raw(first_samp: int, meas_date: bool) -> Any:
    """3 magnetometers, 3 gradiometers and a stim channel, cropped-style (first_samp != 0)."""
    import datetime as dt

    import mne

    info = mne.create_info(
        ["MEG 0111", "MEG 0121", "MEG 0131", "MEG 0112", "MEG 0122", "MEG 0132", "STI 014"],
        100.0,
        ["mag"] * 3 + ["grad"] * 3 + ["stim"],
    )
    rng = np.random.default_rng(first_samp)
    data = np.vstack(
        [rng.standard_normal((3, 1000)) * 1e-12, rng.standard_normal((3, 1000)) * 1e-11, np.zeros((1, 1000))]
    )
    raw = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    if meas_date:
        raw.set_meas_date(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    ann = mne.Annotations(
        onset=[0.5, 2.0, 2.5, 6.0],
        duration=[3.0, 1.0, 0.0, 2.0],
        description=["rest", "left", "right", "left"],
    )
    raw.set_annotations(ann)
    return raw


def _reference_labels(raw: Any, starts: list[int], classes: list[str]) -> list[int]:
    """Labels from MNE's own event placement: the annotation containing the window start, latest onset wins."""
    import mne

    events, ids = mne.events_from_annotations(raw, verbose="error")
    names = {v: k for k, v in ids.items()}
    sf = raw.info["sfreq"]
    out = []
    for s in starts:
        lab = -1
        for (samp, _, code), dur in zip(events, raw.annotations.duration):
            a = int(samp) - raw.first_samp
            if a <= s < a + max(1, round(float(dur) * sf)):
                lab = classes.index(names[int(code)])
        out.append(lab)
    return out


@pytest.mark.parametrize("first_samp,meas_date", [(0, True), (137, True), (137, False), (0, False)])
def test_meg_recording_spec_metadata_and_annotation_targets(
    tmp_path: Path, first_samp: int, meas_date: bool
) -> None:
    raw = _meg_raw(first_samp, meas_date)
    path = tmp_path / "meg_raw.fif"
    raw.save(path, verbose="error")
    m = write_inputs(
        [path], tmp_path / "o", window=0.5, stride=0.25, target_from="annotations", max_workers=0
    )
    assert list(m.modalities) == ["meg"]  # named from the channel types, not "eeg"
    spec = m.modalities["meg"]
    assert spec.ch_types == ["mag"] * 3 + ["grad"] * 3 + ["stim"]
    assert spec.units == ["T"] * 3 + ["T/m"] * 3 + ["V"] and spec.unit is None
    assert spec.sfreq == 100.0 and spec.ch_names == raw.ch_names and spec.shape == [7, 50]
    classes = m.extra["nb_shards"]["classes"]["train"]
    assert classes == ["left", "rest", "right"]
    # the recording's full metadata (annotations included), once, checksummed
    meta = json.loads((tmp_path / "o" / "train-recordings.json").read_text())
    assert m.file("train-recordings.json").size > 0 and len(meta) == 1
    assert [a["description"] for a in meta[0]["annotations"]] == ["rest", "left", "right", "left"]
    assert meta[0]["first_samp"] == first_samp and meta[0]["channels"][3]["unit"] == "T/m"
    ds = IndexedShards(tmp_path / "o")
    starts = [ds[i]["json"]["start"] for i in range(len(ds))]
    got = [ds[i]["json"]["target"] for i in range(len(ds))]
    assert got == _reference_labels(raw, starts, classes)
    assert {-1, 0, 1, 2} <= set(got)
    np.testing.assert_allclose(ds[3]["meg"], raw.get_data(start=75, stop=125).astype("float32"))
    assert verify(tmp_path / "o")["samples"] == len(ds)


def test_recordings_are_read_in_bounded_chunks(
    fif_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_shards import convert

    spans: list[int] = []
    real = convert._read_raw

    def spy(p: Path, kw: dict[str, Any]) -> Any:
        raw = real(p, kw)
        assert not raw.preload
        get = raw.get_data

        def get_data(*a: Any, start: int = 0, stop: int | None = None, **k: Any) -> Any:
            spans.append((stop if stop is not None else raw.n_times) - start)
            return get(*a, start=start, stop=stop, **k)

        raw.get_data = get_data
        return raw

    monkeypatch.setattr(convert, "_read_raw", spy)
    monkeypatch.setattr(convert, "CHUNK_VALUES", 4 * 300)  # 4 channels × 300 samples per chunk
    m = write_inputs(fif_files[:1], tmp_path / "o", window=1.0, stride=0.5, max_workers=0)
    assert m.splits == {"train": 11}
    assert 1 < len(spans) < 11 and max(spans) <= 300
    monkeypatch.undo()  # the same bytes as with the default chunk size
    write_inputs(fif_files[:1], tmp_path / "r", window=1.0, stride=0.5, max_workers=0, name="o")
    assert _digests(tmp_path / "o") == _digests(tmp_path / "r")


def test_unreadable_recording_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nb_core.cli import main

    (tmp_path / "bad.edf").write_bytes(b"0       garbage" * 30)
    with pytest.raises((UnsupportedFormatError, CorruptDataError), match="bad.edf"):
        write_inputs([tmp_path / "bad.edf"], tmp_path / "o", max_workers=0)
    assert (
        main(["shards", "write", str(tmp_path / "bad.edf"), "-o", str(tmp_path / "c"), "--workers", "0"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("nb: error:") and "bad.edf" in err and len(err.strip().splitlines()) == 1


def test_reader_options_from_the_cli(
    fif_files: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nb_core.cli import main

    args = ["shards", "write", str(fif_files[0]), "-o", str(tmp_path / "o"), "--workers", "0"]
    assert main([*args, "--allow-maxshield", "--reader-option", "on_split_missing=warn"]) == 0
    capsys.readouterr()
    assert (
        main([*args[:4], str(tmp_path / "p"), "--workers", "0", "--reader-option", "no_such_option=1"]) == 2
    )
    err = capsys.readouterr().err
    assert "no_such_option" in err and len(err.strip().splitlines()) == 1


def test_annotation_targets_equal_nb_formats_open(tmp_path: Path) -> None:
    nbf = pytest.importorskip("nb_formats")
    from nb_core import Recording

    raw = simulate_raw(n_channels=3, sfreq=100.0, duration=20.0, seed=3)
    raw.save(tmp_path / "r_raw.fif", verbose="error")
    m = write_inputs(
        [tmp_path / "r_raw.fif"],
        tmp_path / "s",
        window=0.5,
        stride=0.3,
        target_from="annotations",
        max_workers=0,
    )
    classes = m.extra["nb_shards"]["classes"]["train"]
    ds = IndexedShards(tmp_path / "s")
    ours = [ds[i]["json"]["target"] for i in range(len(ds))]
    src = tmp_path / "f.h5"
    nbf.write([Recording.from_mne(raw)], src, format="hdf5")
    ref = nbf.open(src, window_size=50, stride=30, target_from="annotations")
    theirs = [ref.target(i) for i in range(len(ref))]
    assert classes == ref.classes and ours == theirs and sum(t >= 0 for t in ours) > 5
