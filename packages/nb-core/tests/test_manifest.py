"""Manifest: canonical JSON, validation on read with field names, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nb_core import MANIFEST_NAME, SCHEMA_VERSION, Manifest, ModalitySpec, RecordingEntry, layouts
from nb_core.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    ManifestNotFoundError,
    NBError,
    NonFiniteDataError,
    SchemaError,
    SchemaVersionError,
)
from nb_core.layouts import Layout


def _artifact(tmp_path: Path) -> tuple[Path, Manifest]:
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "train-000000.tar").write_bytes(b"x" * 1000)
    (tmp_path / "ünïcødé-名前.bin").write_bytes(b"\x00\x01")
    m = Manifest(
        name="EEG Motor Imagery — ünïcødé",
        layout="shards",
        writer={"package": "nb-shards", "version": "0.1.0"},
        modalities={
            "eeg": ModalitySpec("float32", [21, 1000], unit="V", sfreq=250.0, ch_names=["Fp1", "Cz"])
        },
        recordings=[RecordingEntry("sub-01", {"subject": "01", "task": "rest"}, n_times=2500, sfreq=250.0)],
        splits={"train": 10, "test": 2},
        provenance={"command": "nb shards write", "sources": ["a.fif"]},
        license="CC-BY-4.0",
        citation="@article{x}",
        extra={"hf_configs": [{"config_name": "default", "data_files": "shards/*.tar"}]},
    )
    m.add_file(tmp_path, "shards/train-000000.tar")
    m.add_file(tmp_path, "ünïcødé-名前.bin")
    return tmp_path, m


def test_round_trip_and_identical_bytes(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    path = m.write(root)
    assert path.name == MANIFEST_NAME
    first = path.read_bytes()
    back = Manifest.read(root)
    assert back == Manifest.from_dict(m.to_dict())
    assert back.n_samples == 12
    assert back.total_size == 1002
    assert back.file("shards/train-000000.tar").size == 1000
    # Same content -> same bytes, whatever the order files were added in.
    back.files.reverse()
    back.write(root)
    assert path.read_bytes() == first
    assert "ünïcødé" in first.decode("utf-8")  # UTF-8, not \u escapes
    back.verify(root)


def test_read_from_manifest_file_or_data_file(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    m.write(root)
    assert Manifest.read(root / MANIFEST_NAME).name == m.name
    assert Manifest.read(root / "ünïcødé-名前.bin").name == m.name


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFoundError, match="not a neurobridge artifact"):
        Manifest.read(tmp_path)
    with pytest.raises(FileNotFoundError):  # also the built-in it resembles
        Manifest.read(tmp_path / "nothing")


def _write_raw(root: Path, obj: object) -> None:
    (root / MANIFEST_NAME).write_text(json.dumps(obj), encoding="utf-8")


@pytest.mark.parametrize(
    ("mutate", "error", "field"),
    [
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), SchemaVersionError, "schema_version"),
        (lambda d: d.update(schema_version="1"), SchemaError, "schema_version"),
        (lambda d: d.pop("name"), SchemaError, "name"),
        (lambda d: d.update(name=3), SchemaError, "name"),
        (lambda d: d.update(layout="TIFF files"), SchemaError, "layout"),
        (lambda d: d.update(layout=""), SchemaError, "layout"),
        (lambda d: d["files"][0].update(sha256="abc"), SchemaError, "files[0].sha256"),
        (lambda d: d["files"][0].update(size=-1), SchemaError, "files[0].size"),
        (lambda d: d["files"][0].update(size=True), SchemaError, "files[0].size"),
        (lambda d: d["files"][0].update(path="../escape"), SchemaError, "files[0].path"),
        (lambda d: d["files"][0].update(path="/abs"), SchemaError, "files[0].path"),
        (lambda d: d["files"].append(dict(d["files"][0])), SchemaError, "files"),
        (lambda d: d["splits"].update(train=-3), SchemaError, "splits.train"),
        (lambda d: d["modalities"]["eeg"].update(sfreq=0), SchemaError, "modalities.eeg.sfreq"),
        (lambda d: d["modalities"]["eeg"].update(shape=[21, "x"]), SchemaError, "modalities.eeg.shape[1]"),
        (lambda d: d["modalities"].update({"EEG Data": {"dtype": "f4"}}), SchemaError, "modalities.EEG Data"),
        (lambda d: d["recordings"][0]["entities"].update(run=1), SchemaError, "recordings[0].entities.run"),
        (lambda d: d.update(surprise=1), SchemaError, "unknown field"),
        (lambda d: d.update(provenance={"x": {1, 2}}), SchemaError, "provenance.x"),
        (lambda d: d.update(schema_version=99), SchemaVersionError, "schema_version"),
        (lambda d: d["modalities"]["eeg"].update(dtype="not-a-dtype"), SchemaError, "modalities.eeg.dtype"),
        (lambda d: d["modalities"]["eeg"].update(dtype="O"), SchemaError, "modalities.eeg.dtype"),
        (lambda d: d["modalities"]["eeg"].update(dtype=4), SchemaError, "modalities.eeg.dtype"),
        (lambda d: d["modalities"]["eeg"].update(ch_types=["eeg"]), SchemaError, "modalities.eeg.ch_types"),
        (
            lambda d: d["modalities"]["eeg"].update(ch_types=["eeg", "EEG Bad"]),
            SchemaError,
            "modalities.eeg.ch_types[1]",
        ),
        (lambda d: d["modalities"]["eeg"].update(units=["V", ""]), SchemaError, "modalities.eeg.units[1]"),
        (lambda d: d["recordings"][0].update(n_times=-1), SchemaError, "recordings[0].n_times"),
        (lambda d: d["recordings"].append(dict(d["recordings"][0])), SchemaError, "recordings"),
        (lambda d: d["files"][0].update(path="a/" * 600 + "x"), SchemaError, "files[0].path"),
        (lambda d: d["files"][0].update(path="a\x00b"), SchemaError, "files[0].path"),
        (lambda d: d["files"][0].update(path="./x"), SchemaError, "files[0].path"),
        (
            lambda d: d["extra"].update(nb_x={"shards": [{"path": "../secret.txt", "n_samples": 1}]}),
            SchemaError,
            "extra.nb_x.shards[0].path",
        ),
        (
            lambda d: d["extra"].update(nb_x={"shards": [{"index": "/etc/passwd"}]}),
            SchemaError,
            "extra.nb_x.shards[0].index",
        ),
        (
            lambda d: d["extra"].update(nb_x={"shards": [{"path": "x.tar", "n_samples": -1}]}),
            SchemaError,
            "extra.nb_x.shards[0].n_samples",
        ),
        (lambda d: d["extra"].update(nb_x={"format_version": "1"}), SchemaError, "extra.nb_x.format_version"),
        (
            lambda d: d["extra"]["hf_configs"][0].update(data_files=[{"split": "train", "path": "../x"}]),
            SchemaError,
            "extra.hf_configs[0].data_files[0].path",
        ),
    ],
)
def test_bad_manifest_names_field(tmp_path: Path, mutate, error, field) -> None:  # type: ignore[no-untyped-def]
    root, m = _artifact(tmp_path)
    d = m.to_dict()
    mutate(d)
    if isinstance(d.get("provenance", {}).get("x"), set):
        with pytest.raises(error, match=field.replace("[", r"\[").replace("]", r"\]")):
            Manifest.from_dict(d)
        return
    _write_raw(root, d)
    with pytest.raises(error) as info:
        Manifest.read(root)
    assert field in str(info.value)
    assert isinstance(info.value, NBError)


def test_non_finite_numbers_refused(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    text = m.to_json().replace('"sfreq": 250.0', '"sfreq": NaN', 1)
    (root / MANIFEST_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(CorruptDataError, match="NaN"):
        Manifest.read(root)
    m.provenance = {"gain": float("inf")}
    with pytest.raises(NonFiniteDataError, match="provenance.gain"):
        m.write(root)


def test_not_json_and_not_an_object(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_bytes(b"{not json")
    with pytest.raises(CorruptDataError, match="not valid JSON"):
        Manifest.read(tmp_path)
    (tmp_path / MANIFEST_NAME).write_bytes(b"[1, 2]")
    with pytest.raises(SchemaError, match="must be an object"):
        Manifest.read(tmp_path)


def test_huge_values_give_short_messages(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    d = m.to_dict()
    d["name"] = ["x" * 100_000]
    d["files"][0]["path"] = "y" * 5000
    _write_raw(root, d)
    with pytest.raises(SchemaError) as info:
        Manifest.read(root)
    assert len(str(info.value)) < 700 and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe{}",  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError inside json
        b"[" * 300 + b"]" * 300,  # deeper than MAX_JSON_DEPTH
        b'{"schema_version": 1' + b"1" * 5000 + b"}",  # integer over the 4300-digit limit
        b'{"schema_version": 1, "x": 1e400}',  # float out of range -> inf
        b'{"schema_version": 1, "schema_version": 1}',  # duplicate key
    ],
)
def test_hostile_json_is_corrupt_data(tmp_path: Path, text: bytes) -> None:
    (tmp_path / MANIFEST_NAME).write_bytes(text)
    with pytest.raises(CorruptDataError, match="nb-manifest.json: not"):
        Manifest.read(tmp_path)


def test_modality_channel_types_and_units_round_trip(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    m.modalities["eeg"].ch_types = ["eeg", "stim"]
    m.modalities["eeg"].units = ["V", "V"]
    m.write(root)
    spec = Manifest.read(root).modalities["eeg"]
    assert spec.ch_types == ["eeg", "stim"] and spec.units == ["V", "V"]
    # Older manifests without them still read.
    assert ModalitySpec.from_dict({"dtype": "float32"}, "m").ch_types is None


def test_modality_spec_from_recording() -> None:
    import numpy as np

    from nb_core import Channel, Recording

    chans = [
        Channel("MEG 0111", "mag", "T"),
        Channel("MEG 0112", "grad", "T/m"),
        Channel("STI 014", "stim", "V"),
    ]
    rec = Recording(id="r", sfreq=250.0, channels=chans, data=np.zeros((3, 10)))
    spec = ModalitySpec.from_recording(rec, dtype="float32", shape=[3, 100])
    assert (spec.unit, spec.units, spec.ch_types) == (None, ["T", "T/m", "V"], ["mag", "grad", "stim"])
    assert spec.sfreq == 250.0 and spec.ch_names == ["MEG 0111", "MEG 0112", "STI 014"]
    assert ModalitySpec.from_dict(spec.to_dict(), "m") == spec
    eeg = Recording(id="e", sfreq=100.0, channels=[Channel("Cz"), Channel("Pz")], data=np.zeros((2, 5)))
    assert ModalitySpec.from_recording(eeg, dtype="float64", shape=[2, None]).unit == "V"


def test_verify_checks_extra_paths_and_split_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The section owners come from the registry: a layout declares its section, nothing is hard-coded.
    monkeypatch.setattr(layouts, "_REGISTRY", {})
    monkeypatch.setattr(layouts, "_entry_points", dict)
    layouts.register(Layout(name="tiny-shards", package="t", open=Path, section_name="nb_shards"))
    layouts.register(Layout(name="hdf5", package="t", open=Path, section_name="nb_h5"))
    root, m = _artifact(tmp_path)
    m.extra = {"nb_x": {"shards": [{"path": "shards/train-000000.tar", "split": "train", "n_samples": 10}]}}
    m.splits = {"train": 10}
    m.write(root)
    Manifest.read(root).verify(root)
    # A shard outside `files` is refused: every data file must be checksummed.
    (root / "other.tar").write_bytes(b"z")
    m.extra["nb_x"]["shards"].append({"path": "other.tar", "split": "train", "n_samples": 2})
    m.splits = {"train": 12}
    m.write(root)
    with pytest.raises(SchemaError, match=r"extra.nb_x.shards\[1\].path: 'other.tar' is not listed"):
        Manifest.read(root).verify(root)
    m.add_file(root, "other.tar")
    m.splits = {"train": 11}
    m.write(root)
    with pytest.raises(SchemaError, match="splits.train: declares 11 samples but its parts"):
        Manifest.read(root).verify(root)
    m.splits = {"train": 12, "valid": 3}
    m.write(root)
    with pytest.raises(SchemaError, match="splits.valid: declares 3"):
        Manifest.read(root).verify(root)
    m.splits = {"train": 12}
    m.write(root)
    Manifest.read(root).verify(root)
    # A shards section under another layout, and samples without any data file, are refused.
    m.extra = {"nb_shards": {"shards": []}}
    m.layout = "hdf5"
    m.splits = {}
    m.write(root)
    with pytest.raises(SchemaError, match="layout 'hdf5' does not match the extra.nb_shards"):
        Manifest.read(root).verify(root)
    m.layout = "tiny-shards"
    m.write(root)
    Manifest.read(root).verify(root)
    m.layout = "not-installed"  # any well-formed name is a valid layout; its own section is accepted
    m.extra = {"not_installed": {"x": 1}}
    m.write(root)
    Manifest.read(root).verify(root)
    bare = Manifest(name="x", layout="hdf5", splits={"train": 4})
    bare.write(root)
    with pytest.raises(SchemaError, match="declares 4 samples but lists no data files"):
        Manifest.read(root).verify(root)


def test_verify_detects_changes(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    m.write(root)
    shard = root / "shards" / "train-000000.tar"
    shard.write_bytes(b"y" * 1000)  # same size, other bytes
    with pytest.raises(ChecksumMismatchError, match="train-000000.tar: sha256"):
        Manifest.read(root).verify(root)
    shard.write_bytes(b"x" * 10)
    with pytest.raises(ChecksumMismatchError, match="size 10 bytes"):
        Manifest.read(root).verify(root)
    shard.unlink()
    with pytest.raises(ChecksumMismatchError, match="missing"):
        Manifest.read(root).verify(root, paths=["shards/train-000000.tar"])
    Manifest.read(root).verify(root, paths=["ünïcødé-名前.bin"])


def test_write_is_atomic_on_invalid_manifest(tmp_path: Path) -> None:
    root, m = _artifact(tmp_path)
    m.write(root)
    before = (root / MANIFEST_NAME).read_bytes()
    m.layout = "no pe"
    with pytest.raises(SchemaError):
        m.write(root)
    assert (root / MANIFEST_NAME).read_bytes() == before
    assert not [p for p in root.iterdir() if p.name.startswith(".nb-tmp-")]
