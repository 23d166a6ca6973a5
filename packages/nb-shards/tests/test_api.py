"""The user API of nb-shards: what ``import nb_shards`` offers, and readers that give back what
writers take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nb_shards
from nb_core import Sample
from nb_core.cli import main
from nb_core.errors import CorruptDataError, IncompatibleDataError, NBError
from nb_shards import IndexedShards, ShardDataset, ShardWriter


def test_init_exports_the_user_api_only() -> None:
    assert set(nb_shards.__all__) == {
        "IncompleteArtifactError",
        "IndexedShards",
        "Mixture",
        "ShardDataset",
        "ShardLoader",
        "ShardWriter",
        "SkippedSampleWarning",
        "__version__",
        "collate",
        "inspect_artifact",
        "verify",
        "write",
    }
    for internal in ("build_index", "resolve_source", "epoch_order", "ShardIndex", "ShardCache"):
        assert not hasattr(nb_shards, internal), internal
    from nb_shards.index import ShardIndex, build_index  # still importable from their modules
    from nb_shards.order import epoch_order
    from nb_shards.source import ShardCache, resolve_source

    assert callable(build_index) and callable(epoch_order) and callable(resolve_source)
    assert isinstance(ShardIndex, type) and isinstance(ShardCache, type)
    assert issubclass(nb_shards.IncompleteArtifactError, CorruptDataError)
    assert issubclass(nb_shards.IncompleteArtifactError, NBError)


def test_decode_sample_gives_back_the_samples_written(tmp_path: Path, eeg_samples: list[Sample]) -> None:
    taken = eeg_samples[:30]
    with ShardWriter(tmp_path / "s", max_count=8) as w:
        for s in taken:
            w.write(s)
    back = list(ShardDataset(tmp_path / "s", decode="sample"))
    assert len(back) == len(taken)
    for a, b in zip(taken, back):
        assert isinstance(b, Sample)
        assert b.key == a.key and b.metadata == a.metadata and b.arrays.keys() == a.arrays.keys()
        for m in a.arrays:
            assert b.arrays[m].dtype == a.arrays[m].dtype
            np.testing.assert_array_equal(b.arrays[m], a.arrays[m])
    one = IndexedShards(tmp_path / "s", decode="sample")[17]
    assert isinstance(one, Sample) and one.key == taken[17].key
    batches = list(ShardDataset(tmp_path / "s", decode="sample", batch_size=7))
    assert [len(b) for b in batches] == [7, 7, 7, 7, 2]
    assert [s.key for b in batches for s in b] == [s.key for s in taken]
    from nb_shards import ShardLoader

    loaded = list(ShardLoader(tmp_path / "s", batch_size=7, decode="sample", num_workers=0))
    assert [s.key for b in loaded for s in b] == [s.key for s in taken]


def test_decode_sample_refuses_members_a_sample_cannot_hold(tmp_path: Path) -> None:
    with ShardWriter(tmp_path / "s") as w:
        w.write({"__key__": "a", "eeg.npy": np.zeros((2, 3), "float32"), "txt": "hello"})
    with pytest.raises(IncompatibleDataError, match=r"member 'txt'.*decode='numpy'"):
        list(ShardDataset(tmp_path / "s", decode="sample"))
    assert next(iter(ShardDataset(tmp_path / "s")))["txt"] == b"hello"


def test_write_is_the_python_form_of_nb_shards_write(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(7 * 2 * 5, dtype="float32").reshape(7, 2, 5))
    m = nb_shards.write(tmp_path / "x.npy", tmp_path / "py", max_count=3, max_workers=0, show_progress=False)
    assert m.splits == {"train": 7}
    cmd = ["shards", "write", str(tmp_path / "x.npy"), "--out", str(tmp_path / "cli"), "--max-count", "3"]
    assert main([*cmd, "--workers", "0"]) == 0
    py = [p.read_bytes() for p in sorted((tmp_path / "py").glob("*.tar"))]
    cli = [p.read_bytes() for p in sorted((tmp_path / "cli").glob("*.tar"))]
    assert len(py) == 3 and py == cli
    np.testing.assert_array_equal(IndexedShards(tmp_path / "py")[6]["eeg"], np.load(tmp_path / "x.npy")[6])


def test_errors_speak_python_in_python_and_flags_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nb_core.errors import OutputExistsError, UserError

    np.save(tmp_path / "x.npy", np.zeros((4, 2, 3), "float32"))
    nb_shards.write(tmp_path / "x.npy", tmp_path / "s", max_workers=0)
    with pytest.raises(OutputExistsError, match=r"split 'train'; pass overwrite=True to replace it"):
        nb_shards.write(tmp_path / "x.npy", tmp_path / "s", max_workers=0)
    with pytest.raises(UserError, match=r"^items_per_task must be a positive integer"):
        nb_shards.write(tmp_path / "x.npy", tmp_path / "t", items_per_task=0)
    cmd = ["shards", "write", str(tmp_path / "x.npy"), "-o", str(tmp_path / "s"), "--workers", "0"]
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert "split 'train'; pass --overwrite to replace it" in err and err.count("--overwrite") == 1
    assert main([*cmd[:-2], "--items-per-task", "0"]) == 2
    assert "--items-per-task must be a positive integer" in capsys.readouterr().err
    assert main([*cmd, "--overwrite"]) == 0
