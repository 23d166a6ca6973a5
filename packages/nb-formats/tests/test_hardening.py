"""Hardening (issue 8): hostile tables and manifests, empty results, constant-time lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.errors import CorruptDataError, UserError
from nb_core.manifest import Manifest
from nb_core.testing import simulate_recordings, simulate_windows


def _rewrite_manifest(path: Path, edit: Any) -> None:
    """Edit the manifest JSON (keeping it a valid manifest)."""
    mp = path / "nb-manifest.json"
    doc = json.loads(mp.read_text())
    edit(doc)
    mp.write_text(json.dumps(doc))


def _set_table(path: Path, column: str, i: int, value: int) -> None:
    """Overwrite one window-table cell of a Parquet artifact (a consistent, valid Parquet file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(path / "windows.parquet")
    col = t.column(column).to_numpy().copy()
    col[i] = value
    t = t.set_column(t.column_names.index(column), column, pa.array(col, type=pa.int64()))
    pq.write_table(t, path / "windows.parquet")


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("recording_index", 7, "points to no recording"),
        ("recording_index", -1, "points to no recording"),
        ("stop", 10**6, "runs past the end"),
        ("start", -5, "empty or negative span"),
        ("start", 10**4, "empty or negative span"),  # start >= stop
    ],
)
def test_window_table_validated_on_open(
    tmp_path: Path, windowed: Any, column: str, value: int, match: str
) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="parquet")
    _set_table(out, column, 3, value)
    with pytest.raises(CorruptDataError, match=rf"window 3 .*{match}"):
        nb_formats.open(out)


def test_window_table_validated_hdf5(tmp_path: Path, windowed: Any) -> None:
    import h5py

    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    with h5py.File(out / "data.h5", "r+") as f:
        f["table/stop"][5] = 10**6
    with pytest.raises(CorruptDataError, match="window 5 .*runs past the end"):
        nb_formats.open(out)


def test_window_longer_than_every_recording_is_an_error(tmp_path: Path, recordings: list[Any]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(recordings, out, format="zarr")
    with pytest.raises(UserError, match=r"window_size 100000 is longer than every recording .*300 samples"):
        nb_formats.open(out, window_size=100_000)


class _NoScan(np.ndarray):
    """An index array that fails on any whole-array comparison or slice (what a count over the
    items before ``i`` needs); element reads and ``searchsorted`` (bisection) stay allowed."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice) or (isinstance(key, np.ndarray) and key.size > 1):
            raise AssertionError(f"window(i) scanned the item array ({key!r})")
        return super().__getitem__(key)

    def _scan(self, other: Any) -> Any:
        raise AssertionError("window(i) compared the whole item array")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _scan  # type: ignore[assignment]


def test_window_lookup_does_not_scan_earlier_items(tmp_path: Path) -> None:
    recs = simulate_recordings(2, n_channels=2, sfreq=100.0, duration=200.0)
    nb_formats.write(recs, tmp_path / "ds", format="parquet")
    ds = nb_formats.open(tmp_path / "ds", window_size=2)
    n = len(ds)
    assert n == 20_000
    expected = [(i, ds.window(i)) for i in (0, 7, n // 2 - 1, n // 2, n - 1)]
    ds._rec = np.asarray(ds._rec).view(_NoScan)
    for i, w in expected:
        assert ds.window(i) == w  # a bisection, whatever i: constant work per lookup
    assert ds.window(n - 1).i_window_in_trial == n // 2 - 1 and ds.window(n // 2).i_window_in_trial == 0


def test_chunk_cache_is_bounded_by_bytes() -> None:
    from nb_formats._store import DEFAULT_CACHE_BYTES, ChunkCache

    c = ChunkCache(None, max_bytes=DEFAULT_CACHE_BYTES)
    for k in range(200):
        c.get((0, k), lambda buf: np.zeros((100, 1000), np.float32))  # 400 kB each
    assert c.nbytes <= DEFAULT_CACHE_BYTES and len(c) == DEFAULT_CACHE_BYTES // 400_000


def test_unaligned_windows_hit_the_default_cache(tmp_path: Path) -> None:
    recs = simulate_recordings(1, n_channels=8, sfreq=100.0, duration=60.0)
    out = tmp_path / "ds"
    nb_formats.write(recs, out, format="hdf5", chunk_samples=500)
    ds = nb_formats.open(out, window_size=500, stride=137)
    calls = 0
    real = ds._store.read_chunk

    def counting(*a: Any) -> np.ndarray:
        nonlocal calls
        calls += 1
        return real(*a)

    ds._store.read_chunk = counting  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    full = recs[0].data.astype(np.float32)
    for i in rng.integers(0, len(ds), 400):
        x, _ = ds[int(i)]
        w = ds.window(int(i))
        np.testing.assert_array_equal(x, full[:, w.start : w.stop])
    # Each of the 12 chunks is decoded once (+1: the aligned first window, read before its chunk
    # was cached); a cache of 8 chunks used to thrash (23+ decodes).
    assert calls <= 13


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_manifest_must_match_the_layout(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "ds"
    nb_formats.write(simulate_windows(1, duration=4.0), out, format=fmt)

    def drop_files(doc: dict[str, Any]) -> None:
        doc["files"] = []

    _rewrite_manifest(out, drop_files)
    with pytest.raises(CorruptDataError, match="does not list"):
        nb_formats.open(out)


def test_manifest_version_and_counts_are_checked(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    nb_formats.write(simulate_windows(1, duration=4.0), out, format="hdf5")
    orig = (out / "nb-manifest.json").read_text()

    def version(doc: dict[str, Any]) -> None:
        doc["extra"]["nb_formats"]["format_version"] = 99

    _rewrite_manifest(out, version)
    with pytest.raises(CorruptDataError, match="format_version is 99"):
        nb_formats.open(out)
    (out / "nb-manifest.json").write_text(orig)

    def splits(doc: dict[str, Any]) -> None:
        doc["splits"]["train"] = 5

    _rewrite_manifest(out, splits)
    with pytest.raises(CorruptDataError, match="splits count 5 items, the data holds 4"):
        nb_formats.open(out)
    (out / "nb-manifest.json").write_text(orig)

    def layout(doc: dict[str, Any]) -> None:
        doc["layout"] = "parquet"

    _rewrite_manifest(out, layout)
    with pytest.raises(CorruptDataError, match="compression is 'blosc-lz4'"):
        nb_formats.open(out)
    assert Manifest.read(out).layout == "parquet"


@pytest.fixture(scope="module")
def long_fif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 channels × 500,000 samples (32 MB as float64) in a .fif, to be read with preload=False."""
    import mne

    rng = np.random.default_rng(0)
    info = mne.create_info([f"EEG{k:02d}" for k in range(8)], 1000.0, "eeg")
    raw = mne.io.RawArray(rng.normal(0, 1e-5, (8, 500_000)), info, verbose="error")
    path = tmp_path_factory.mktemp("long") / "long_raw.fif"
    raw.save(path, verbose="error")
    return path


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_write_streams_recordings_in_bounded_memory(
    tmp_path: Path, long_fif: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    import mne
    import pandas  # noqa: F401  (imported by pyarrow on first use: module code, not data)
    import pyarrow.parquet  # noqa: F401

    import nb_formats.zarr_layout

    # Zarr writes whole shards (8 MiB): make them small so that this recording spans many of them.
    monkeypatch.setattr(nb_formats.zarr_layout, "RECORDING_SHARD_BYTES", 2 * 2**20)
    raw = mne.io.read_raw_fif(long_fif, preload=False, verbose="error")
    full = 8 * 500_000 * 8  # the recording as float64, what a whole-recording read allocates
    tracemalloc.start()
    try:
        out = tmp_path / "ds"
        nb_formats.write(raw, out, format=fmt, show_progress=False, fsync=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < full / 3, f"peak {peak / 1e6:.1f} MB for a {full / 1e6:.0f} MB recording"
    ds = nb_formats.open(out, window_size=1000)
    x, _ = ds[len(ds) - 1]
    np.testing.assert_array_equal(x, raw.get_data(start=499_000, stop=500_000).astype(np.float32))


def test_verify_says_incomplete_for_an_unfinished_write(tmp_path: Path, recordings: list[Any]) -> None:
    import copy

    from nb_core.errors import ManifestNotFoundError, NonFiniteDataError

    bad = copy.deepcopy(recordings)
    bad[1].data[0, 3] = np.nan
    with pytest.raises(NonFiniteDataError):
        nb_formats.write(bad, tmp_path / "ds", format="zarr", resume=True)
    assert (tmp_path / ".nb-tmp-resume-ds").is_dir() and not (tmp_path / "ds").exists()
    with pytest.raises(ManifestNotFoundError, match="incomplete artifact"):
        nb_formats.verify(tmp_path / "ds")
    with pytest.raises(ManifestNotFoundError, match="incomplete artifact"):
        nb_formats.open(tmp_path / "ds")
    # a folder with data but no manifest (killed before the manifest) is incomplete too
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "data.h5").write_bytes(b"\x89HDF")
    with pytest.raises(ManifestNotFoundError, match="incomplete artifact"):
        nb_formats.verify(tmp_path / "half")


def test_verify_refuses_unlisted_and_missing_files(tmp_path: Path, windowed: Any) -> None:
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    assert nb_formats.verify(out).layout == "hdf5"

    def no_files(doc: dict[str, Any]) -> None:
        doc["files"] = []

    _rewrite_manifest(out, no_files)
    with pytest.raises(CorruptDataError, match="does not list 'data.h5'"):
        nb_formats.verify(out)
    z = tmp_path / "z"
    nb_formats.write(windowed, z, format="zarr")
    (z / "data.zarr" / "recordings" / "extra.bin").write_bytes(b"x")
    with pytest.raises(CorruptDataError, match="extra.bin: not listed"):
        nb_formats.verify(z)


def test_verify_accepts_the_files_a_hub_repo_adds(tmp_path: Path, windowed: Any) -> None:
    """A pulled artifact has the card, .gitattributes and huggingface_hub's local_dir cache."""
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="parquet")
    (out / "README.md").write_text("---\nlicense: unknown\n---\n")
    (out / ".gitattributes").write_text("*.h5 filter=lfs\n")
    (out / "nb-preview.png").write_bytes(b"\x89PNG")
    (out / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (out / ".cache" / "huggingface" / "download" / "data.metadata").write_text("x")
    assert nb_formats.verify(out).layout == "parquet"
    (out / "recordings" / "README.md").write_text("not at the root: not a repository file")
    with pytest.raises(CorruptDataError, match="README.md: not listed"):
        nb_formats.verify(out)


def test_stale_temporaries_are_cleaned(tmp_path: Path, recordings: list[Any]) -> None:
    import copy

    from nb_core.errors import NonFiniteDataError

    # a killed HDF5 write leaves its temporary directory beside the output
    stale = tmp_path / ".nb-tmp-0123456789ab-ds"
    stale.mkdir()
    (stale / "data.h5").write_bytes(b"half")
    other = tmp_path / ".nb-tmp-0123456789ab-other"  # another output's: kept
    other.mkdir()
    nb_formats.write(recordings, tmp_path / "ds", format="hdf5")
    assert not stale.exists() and other.exists()
    # a resumed write whose interrupted run left a temporary manifest / ledger
    bad = copy.deepcopy(recordings)
    bad[1].data[0, 3] = np.nan
    with pytest.raises(NonFiniteDataError):
        nb_formats.write(bad, tmp_path / "r", format="parquet", resume=True)
    work = tmp_path / ".nb-tmp-resume-r"
    (work / ".nb-tmp-aaaaaaaaaaaa-nb-manifest.json").write_text("{")
    (work / ".nb-tmp-bbbbbbbbbbbb-.nb-resume.json").write_text("{")
    out = tmp_path / "r"
    nb_formats.write(recordings, out, format="parquet", resume=True)
    assert [p.name for p in out.rglob(".nb-tmp-*")] == []
    nb_formats.verify(out)


def _mne_labels(raw: Any) -> list[str | None]:
    """Per-sample labels from MNE itself (events_from_annotations gives each onset's sample)."""
    import mne

    events, ids = mne.events_from_annotations(raw, verbose="error")
    names = {v: k for k, v in ids.items()}
    out: list[str | None] = [None] * raw.n_times
    for ev, d in sorted(zip(events.tolist(), raw.annotations.duration, strict=True)):
        a = ev[0] - raw.first_samp
        for s in range(max(0, a), min(raw.n_times, a + max(1, round(d * raw.info["sfreq"])))):
            out[s] = names[ev[2]]
    return out


@pytest.mark.parametrize("meas_date", [True, False])
@pytest.mark.parametrize("tmin", [0.0, 3.7])
def test_annotation_labels_match_mne(tmp_path: Path, meas_date: bool, tmin: float) -> None:
    import mne

    from nb_core.testing import simulate_raw

    raw = simulate_raw(n_channels=3, sfreq=100.0, duration=20.0, seed=5)
    raw.set_annotations(None)
    raw.crop(tmin=tmin)
    if not meas_date:
        raw.set_meas_date(None)
    # Seconds from the first stored sample; with orig_time=None MNE adds first_samp / sfreq itself.
    onsets = np.array([4.0, 6.55, 9.1, 13.0])
    orig = raw.info["meas_date"]
    raw.set_annotations(
        mne.Annotations(
            onsets + (raw.first_samp / 100.0 if meas_date else 0.0),
            [0.5, 1.0, 0.0, 2.0],
            ["left", "right", "blink", "left"],
            orig_time=orig,
        )
    )
    assert raw.first_samp == round(tmin * 100) and (raw.info["meas_date"] is None) == (not meas_date)
    assert (raw.annotations.orig_time is None) == (not meas_date)
    expected = _mne_labels(raw)
    assert sum(e is not None for e in expected) == 50 + 100 + 1 + 200
    out = tmp_path / "ds"
    nb_formats.write(raw, out, format="parquet")
    ds = nb_formats.open(out, window_size=1, target_from="annotations")
    got = [ds.classes[y] if y >= 0 else None for y in ds._labels.tolist()]
    assert got == expected


@pytest.mark.parametrize("fmt", ["hdf5", "parquet"])
def test_meg_with_stim_channels_is_meg(tmp_path: Path, fmt: str) -> None:
    import mne

    info = mne.create_info(
        ["MEG 0111", "MEG 0112", "MEG 0113", "STI 014", "EOG 061"],
        200.0,
        ["mag", "grad", "grad", "stim", "eog"],
    )
    raw = mne.io.RawArray(np.random.default_rng(0).normal(0, 1e-12, (5, 400)), info, verbose="error")
    out = tmp_path / "ds"
    nb_formats.write(raw, out, format=fmt)
    m = Manifest.read(out)
    assert list(m.modalities) == ["meg"]
    spec = m.modalities["meg"]
    assert spec.ch_types == ["mag", "grad", "grad", "stim", "eog"]
    assert spec.units == ["T", "T/m", "T/m", "V", "V"] and spec.unit is None
    ds = nb_formats.open(out, window_size=100)
    assert list(ds.sample(0).arrays) == ["meg"]
    eeg = tmp_path / "eeg"
    nb_formats.write(simulate_recordings(1, duration=1.0), eeg, format=fmt)
    assert list(Manifest.read(eeg).modalities) == ["eeg"]


@pytest.mark.parametrize(("fmt", "comp"), [("hdf5", "zstd"), ("zarr", "blosc-lz4"), ("hdf5", "none")])
def test_small_cache_recycles_buffers_correctly(tmp_path: Path, fmt: str, comp: str) -> None:
    recs = simulate_recordings(2, n_channels=5, sfreq=100.0, duration=30.0, seed=11)
    out = tmp_path / "ds"
    nb_formats.write(recs, out, format=fmt, compression=comp, chunk_samples=200)
    full = [r.data.astype(np.float32) for r in recs]
    rng = np.random.default_rng(1)
    for cache in (2, None, 0):
        ds = nb_formats.open(out, window_size=150, stride=13, cache_chunks=cache)
        for i in rng.integers(0, len(ds), 300):
            x, _ = ds[int(i)]
            w = ds.window(int(i))
            np.testing.assert_array_equal(
                x, full[ds.recording_ids.index(w.recording_id)][:, w.start : w.stop]
            )


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_mne_info_and_annotations_survive_a_streamed_write(tmp_path: Path, fmt: str) -> None:
    import mne

    from nb_core.testing import simulate_raw

    raw = simulate_raw(n_channels=4, sfreq=100.0, duration=5.0, seed=3).crop(tmin=0.37)
    raw.set_meas_date(None)
    raw.set_eeg_reference("average", projection=False, verbose="error")  # custom_ref_applied
    out = tmp_path / "ds"
    nb_formats.write(raw, out, format=fmt, dtype="float64")
    back = nb_formats.open(out).recording(0).to_mne()
    assert mne.utils.object_diff(raw.info, back.info) == ""
    assert back.first_samp == raw.first_samp == 37
    np.testing.assert_array_equal(back.get_data(), raw.get_data())
    np.testing.assert_allclose(back.annotations.onset, raw.annotations.onset)
