"""Round trips of every data kind through every layout × compression."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nb_formats
from nb_core.manifest import Manifest
from nb_formats.codecs import COMPRESSIONS

#: (format, compression, zip_store): every layout × compression, and the Zarr zip store.
LAYOUTS = [(f, c, False) for f, cs in COMPRESSIONS.items() for c in cs] + [("zarr", "blosc-lz4", True)]
LAYOUT_IDS = [f"{f}-{c}{'-zip' if z else ''}" for f, c, z in LAYOUTS]
BY_ID = dict(zip(LAYOUT_IDS, LAYOUTS, strict=True))
SOME = [BY_ID[k] for k in ("hdf5-blosc-lz4", "zarr-blosc-lz4", "zarr-blosc-lz4-zip", "parquet-zstd")]


def layout_kwargs(layout: tuple[str, str, bool]) -> dict[str, Any]:
    fmt, comp, zipped = layout
    return {"format": fmt, "compression": comp, "zip_store": zipped}


def _check_manifest(path: Path, fmt: str) -> Manifest:
    m = Manifest.read(path)
    assert m.layout == fmt
    assert m.writer == {"package": "nb-formats", "version": nb_formats.__version__}
    m.verify(path)  # sizes and sha256 of every listed file
    listed = {f.path for f in m.files}
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {"nb-manifest.json"}
    assert listed == on_disk
    return m


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
def test_raws_round_trip(tmp_path: Path, raws: list[Any], layout: tuple[str, str, bool]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(raws, out, **layout_kwargs(layout))
    _check_manifest(out, layout[0])
    ds = nb_formats.open(out)
    assert len(ds) == 2 and ds.n_recordings == 2
    for j, raw in enumerate(raws):
        x, y = ds[j]
        assert y is None and x.dtype == np.float32
        np.testing.assert_array_equal(x, raw.get_data().astype(np.float32))
        rec = ds.recording(j)
        np.testing.assert_array_equal(rec.data, x)


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
def test_windows_round_trip(tmp_path: Path, windowed: tuple[list[Any], list[Any]], layout: Any) -> None:
    recs, wins = windowed
    out = tmp_path / "ds"
    nb_formats.write((recs, wins), out, **layout_kwargs(layout))
    m = _check_manifest(out, layout[0])
    assert m.splits == {"train": len(wins)}
    assert m.modalities["eeg"].shape == [5, 50]
    ds = nb_formats.open(out)
    by_id = {r.id: r for r in recs}
    assert len(ds) == len(wins)
    preloaded = {r.id: ds.recording(j).data for j, r in enumerate(recs)}
    for i in range(len(ds)):
        w = wins[i]
        x, y = ds[i]
        ref = by_id[w.recording_id].data[:, w.start : w.stop]
        np.testing.assert_array_equal(x, ref)  # stored float32 == input float32
        np.testing.assert_array_equal(x, preloaded[w.recording_id][:, w.start : w.stop])  # lazy == preloaded
        assert y == w.target and ds.window(i) == w
    s = ds.sample(3)
    assert s.metadata["target"] == wins[3].target
    assert s.metadata["entities"] == by_id[wins[3].recording_id].entities
    assert s.metadata["i_start_in_trial"] == wins[3].i_start_in_trial
    s.validate()


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
def test_arrays_round_trip(tmp_path: Path, layout: Any) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1e-5, size=(12, 3, 40)).astype(np.float32)
    y = [f"class{k % 3}" for k in range(12)]
    md = pd.DataFrame({"i_window_in_trial": np.arange(12), "session": ["a"] * 6 + ["b"] * 6})
    out = tmp_path / "ds"
    nb_formats.write((x, y, md), out, sfreq=128.0, ch_names=["C3", "Cz", "C4"], **layout_kwargs(layout))
    m = _check_manifest(out, layout[0])
    assert m.modalities["eeg"].ch_names == ["C3", "Cz", "C4"] and m.modalities["eeg"].sfreq == 128.0
    ds = nb_formats.open(out)
    for i in (0, 5, 11, -1):
        xi, yi = ds[i]
        np.testing.assert_array_equal(xi, x[i])
        assert yi == y[i]
    assert ds.window(7).extra == {"session": "b"}
    assert ds.sample(0).metadata["ch_names"] == ["C3", "Cz", "C4"]


@pytest.mark.parametrize("layout", SOME, ids=lambda t: "-".join(map(str, t)))
def test_braindecode_raw_round_trip(
    tmp_path: Path, braindecode_raw: Any, raws: list[Any], layout: Any
) -> None:
    out = tmp_path / "ds"
    nb_formats.write(braindecode_raw, out, **layout_kwargs(layout))
    ds = nb_formats.open(out)
    total = sum(len(d.metadata) for d in braindecode_raw.datasets)
    assert len(ds) == total
    i = 0
    for k, d in enumerate(braindecode_raw.datasets):
        data = raws[k].get_data().astype(np.float32)
        for _, row in d.metadata.iterrows():
            x, y = ds[i]
            np.testing.assert_array_equal(x, data[:, row.i_start_in_trial : row.i_stop_in_trial])
            assert y == row.target
            w = ds.window(i)
            assert (w.i_window_in_trial, w.i_start_in_trial, w.i_stop_in_trial) == (
                row.i_window_in_trial,
                row.i_start_in_trial,
                row.i_stop_in_trial,
            )
            i += 1
    assert ds.recording(1).entities == {"subject": "2", "session": "0", "run": "1"}


@pytest.mark.parametrize("layout", SOME, ids=lambda t: "-".join(map(str, t)))
def test_braindecode_epochs_round_trip(tmp_path: Path, braindecode_epochs: Any, layout: Any) -> None:
    out = tmp_path / "ds"
    nb_formats.write(braindecode_epochs, out, **layout_kwargs(layout))
    ds = nb_formats.open(out)
    x_all = np.concatenate([d.windows.get_data() for d in braindecode_epochs.datasets]).astype(np.float32)
    y_all = np.concatenate([d.windows.metadata["target"].to_numpy() for d in braindecode_epochs.datasets])
    assert len(ds) == len(x_all)
    for i in range(len(ds)):
        x, y = ds[i]
        np.testing.assert_array_equal(x, x_all[i])
        assert y == y_all[i]
    rec = ds.recording(0)  # metadata only: the epochs carried no continuous signal
    assert rec.data is None and rec.ch_names == braindecode_epochs.datasets[0].windows.ch_names


@pytest.mark.parametrize("target", ["int", "float", "str"])
@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "parquet"])
def test_target_kinds(tmp_path: Path, fmt: str, target: str) -> None:
    from nb_core.testing import simulate_windows

    recs, wins = simulate_windows(1, n_channels=3, sfreq=100.0, duration=2.0, window_size=40, target=target)
    wins[0].target = None if target == "str" else wins[0].target  # a missing value forces the JSON coding
    out = tmp_path / "ds"
    nb_formats.write((recs, wins), out, format=fmt)
    ds = nb_formats.open(out)
    assert [ds.target(i) for i in range(len(ds))] == [w.target for w in wins]
    assert all(type(ds.target(i)) is type(w.target) for i, w in enumerate(wins))


def test_float64_is_exact_and_iterables_stream(tmp_path: Path, raws: list[Any]) -> None:
    out = tmp_path / "ds"
    nb_formats.write(iter(raws), out, format="zarr", dtype="float64")
    ds = nb_formats.open(out)
    np.testing.assert_array_equal(ds.recording(0).data, raws[0].get_data())
    assert ds[0][0].dtype == np.float64


def test_parquet_tables_load_with_datasets(tmp_path: Path, windowed: Any) -> None:
    import datasets

    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="parquet")
    m = Manifest.read(out)
    configs = m.extra["hf_configs"]
    assert [c["config_name"] for c in configs] == ["windows", "recordings"]
    for c in configs:
        files = [str(out / f["path"]) for f in c["data_files"]]
        d = datasets.load_dataset(
            "parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache")
        )
        if c["config_name"] == "windows":
            assert len(d) == len(windowed[1]) and d[0]["target"] == windowed[1][0].target
        else:
            assert d["id"] == [r.id for r in windowed[0]] and d[0]["subject"] == "01"
            assert json.loads(d[0]["meta_json"])["sfreq"] == 100.0


def test_zarr_and_continuous_hdf5_have_no_hf_configs(tmp_path: Path, windowed: Any, raws: list[Any]) -> None:
    assert "hf_configs" not in nb_formats.write(windowed, tmp_path / "z", format="zarr").extra
    assert "hf_configs" not in nb_formats.write(raws, tmp_path / "h", format="hdf5").extra


def _load_via_card(root: Path, config: str, cache: Path) -> Any:
    """Load ``root`` as a local dataset folder whose card lists the manifest's hf_configs (what nb-hub pushes)."""
    import datasets
    import yaml

    configs = Manifest.read(root).extra["hf_configs"]
    (root / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}, sort_keys=False) + "---\n")
    try:
        return datasets.load_dataset(str(root), config, split="train", cache_dir=str(cache))
    finally:
        (root / "README.md").unlink()


def test_hdf5_window_table_loads_with_datasets(tmp_path: Path, windowed: Any) -> None:
    recs, wins = windowed
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    configs = Manifest.read(out).extra["hf_configs"]
    assert [c["config_name"] for c in configs] == ["windows"] and configs[0]["default"] is True
    d = _load_via_card(out, "windows", tmp_path / "cache")
    ids = [r.id for r in recs]
    assert len(d) == len(wins)
    assert [ids[k] for k in d["recording_index"]] == [w.recording_id for w in wins]
    assert list(d["start"]) == [w.start for w in wins] and list(d["target"]) == [w.target for w in wins]
    assert nb_formats.open(out)[3][1] == wins[3].target  # our reader is unaffected


def test_hdf5_materialized_windows_load_with_datasets(tmp_path: Path) -> None:
    import hdf5plugin  # noqa: F401  (Blosc-compressed signals need the filter in the reading process)

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1e-5, size=(9, 3, 40)).astype(np.float32)
    y = [["b", "a", "c"][k % 3] for k in range(9)]
    out = tmp_path / "ds"
    nb_formats.write((x, y), out, format="hdf5", sfreq=100.0)
    names = [c["config_name"] for c in Manifest.read(out).extra["hf_configs"]]
    assert names == ["windows", "windows_with_signals"]
    d = _load_via_card(out, "windows_with_signals", tmp_path / "cache")
    assert d.features["target"].names == ["a", "b", "c"]
    assert [d.features["target"].int2str(v) for v in d["target"]] == y
    np.testing.assert_array_equal(np.asarray(d.with_format("numpy")["windows"]), x)


def test_hdf5_configs_through_the_hub(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """End to end: nb-hub puts hf_configs in the card; datasets loads data.h5 from the (emulated) Hub."""
    nb_hub = pytest.importorskip("nb_hub")  # its pytest plugin provides the hub_emulator fixture
    hub_emulator = request.getfixturevalue("hub_emulator")
    import datasets

    x = np.random.default_rng(1).normal(size=(6, 2, 20)).astype(np.float32)
    out = tmp_path / "h5"
    nb_formats.write((x, ["l", "r"] * 3), out, format="hdf5", compression="gzip", sfreq=50.0)
    nb_hub.push(out, "me/h5", endpoint=hub_emulator.endpoint, license="cc0-1.0")
    d = datasets.load_dataset("me/h5", "windows_with_signals", split="train", cache_dir=str(tmp_path / "c"))
    assert d.features["target"].names == ["l", "r"] and list(d["target"]) == [0, 1] * 3
    np.testing.assert_array_equal(np.asarray(d.with_format("numpy")["windows"]), x)


def test_hdf5_table_config_needs_no_plugin(tmp_path: Path, windowed: Any) -> None:
    """The table config reads only uncompressed int columns: a process without hdf5plugin loads it."""
    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5", compression="blosc-zstd")
    code = (
        "import sys, datasets, json\n"
        "from nb_core.manifest import Manifest\n"
        "c = Manifest.read(sys.argv[1]).extra['hf_configs'][0]\n"
        "f = datasets.Features._from_yaml_list(c['features'])\n"
        "d = datasets.load_dataset('hdf5', data_files=sys.argv[1] + '/data.h5', features=f, split='train',"
        " cache_dir=sys.argv[2])\n"
        "assert 'hdf5plugin' not in sys.modules\n"
        "print(json.dumps(list(d['stop'])))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(out), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [w.stop for w in windowed[1]]


def test_chunking_is_one_window_per_chunk(tmp_path: Path, windowed: Any) -> None:
    import h5py

    out = tmp_path / "ds"
    nb_formats.write(windowed, out, format="hdf5")
    with h5py.File(out / "data.h5") as f:
        assert f["recordings/000000"].chunks == (5, 50)  # time chunk = window size
    x = np.zeros((4, 2, 30), np.float32)
    out2 = tmp_path / "arr"
    nb_formats.write((x, None), out2, format="hdf5")
    with h5py.File(out2 / "data.h5") as f:
        assert f["windows"].chunks == (1, 2, 30)


def test_write_and_convert_return_the_written_manifest(tmp_path: Path, windowed: Any) -> None:
    """``write``/``convert`` return the manifest of what they wrote, equal to what is read back."""
    m = nb_formats.write(windowed, tmp_path / "a", format="hdf5")
    assert isinstance(m, Manifest) and m.layout == "hdf5"
    assert m.to_dict() == Manifest.read(tmp_path / "a").to_dict()
    assert m.n_samples == len(nb_formats.open(tmp_path / "a"))
    c = nb_formats.convert(tmp_path / "a", tmp_path / "b", format="parquet")
    assert isinstance(c, Manifest) and c.layout == "parquet" and c.n_samples == m.n_samples
    assert c.to_dict() == nb_formats.verify(tmp_path / "b").to_dict()


def test_inspect_is_inspect_artifact_and_the_old_name_warns(tmp_path: Path, windowed: Any) -> None:
    nb_formats.write(windowed, tmp_path / "a", format="zarr")
    summary = nb_formats.inspect_artifact(tmp_path / "a")
    assert summary["layout"] == "zarr" and "inspect" not in nb_formats.__all__
    with pytest.warns(DeprecationWarning, match="inspect_artifact"):
        old = nb_formats.inspect
    assert old is nb_formats.inspect_artifact
    with pytest.warns(DeprecationWarning, match="inspect_artifact"):
        from nb_formats.verify import inspect as old_from_module
    assert old_from_module is nb_formats.inspect_artifact
    with pytest.raises(AttributeError):
        _ = nb_formats.no_such_name  # type: ignore[attr-defined]
