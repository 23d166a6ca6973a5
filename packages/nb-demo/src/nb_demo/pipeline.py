"""The end-to-end pipeline behind ``nb demo``.

1. **simulate** — MNE-simulated EEG for several subjects, with labelled events
   (:func:`nb_demo.data.make_dataset`);
2. **convert** — write it with nb-formats (HDF5 by default), reopen it lazily and check that
   windows and the MNE Raw come back as written;
3. **shard** — stream the nb-formats dataset into WebDataset tar shards with nb-shards
   (subjects split into ``train`` and ``test``), then verify every shard;
4. **push** — start the offline Hub emulator (:class:`nb_hub.testing.HubEmulator`) and push the
   shards with their dataset card through the real ``huggingface_hub`` client;
5. **pull** — download them again into a fresh folder, verifying every sha256;
6. **train** — train a small network from the pulled shards with :class:`nb_shards.ShardLoader`
   and report test accuracy (needs torch).

Every step is timed; the report is printed and saved as ``report.json`` in the output folder.
A step that cannot run because an optional package is missing (``load_dataset`` without
``datasets``, the card's preview image without matplotlib) is reported as skipped, with the
extra that enables it, in the report and as a :class:`DemoSkipWarning`.

The output folder is never emptied blindly: the demo writes a marker file
(``.nb-demo.json``) listing what it created, and a later run removes only those entries. A
non-empty folder without the marker (``--out .`` in a project folder) is refused unless
``overwrite=True`` (``--overwrite``), and even then only the demo's own entries are replaced.

Example (a small run without training; a few seconds):
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> report = run_demo(out, n_subjects=2, n_test_subjects=1, duration=8.0, n_channels=4,
    ...                   train=False, say=lambda line: None)
    >>> [s.name for s in report.steps][:5]
    ['simulate', 'convert', 'shard', 'push', 'pull']
    >>> (out / "report.json").is_file()
    True
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import atomic_write_json, remove_path
from nb_core.errors import IntegrityError, OutputExistsError, UserError

__all__ = ["MARKER_NAME", "DemoReport", "DemoSkipWarning", "StepResult", "run_demo"]

#: The file that marks a folder as written by the demo; it lists the entries the demo created.
MARKER_NAME = ".nb-demo.json"


class DemoSkipWarning(UserWarning):
    """A demo step (or part of one) was skipped because an optional package is missing."""


@dataclass
class StepResult:
    """One timed step of the demo."""

    name: str
    seconds: float
    detail: str


@dataclass
class DemoReport:
    """What the demo did and measured."""

    out_dir: str
    steps: list[StepResult] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The steps as a text table, then what was skipped (and why)."""
        width = max(len(s.name) for s in self.steps) if self.steps else 4
        lines = [f"{'step':<{width}}  {'seconds':>8}  detail", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
        lines += [f"{s.name:<{width}}  {s.seconds:>8.2f}  {s.detail}" for s in self.steps]
        lines += [f"skipped: {s}" for s in self.skipped]
        return "\n".join(lines)

    def skip(self, what: str, say: Callable[[str], None]) -> None:
        """Record a skipped step: in the report, as a progress line and as a warning."""
        self.skipped.append(what)
        say(f"    skipped: {what}")
        warnings.warn(what, DemoSkipWarning, stacklevel=3)


def _prepare_out(out: Path, names: list[str], *, overwrite: bool) -> None:
    """Make ``out`` ready for the demo's entries ``names``; remove only what the demo wrote.

    Raises:
        OutputExistsError: ``out`` is a non-empty folder the demo did not write (no marker), or
            a file, and ``overwrite`` is `False`.
    """
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another --out")
    marker = out / MARKER_NAME
    previous: list[str] = []
    if marker.is_file():
        try:
            listed = json.loads(marker.read_text(encoding="utf-8")).get("entries", [])
        except (ValueError, AttributeError, OSError):
            listed = []
        # only plain names inside `out`: a tampered marker cannot point elsewhere
        previous = [n for n in listed if isinstance(n, str) and n and "/" not in n and n not in (".", "..")]
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out}: the folder is not empty and was not written by nb demo (no {MARKER_NAME}); "
            "choose a new or empty --out, or pass --overwrite (overwrite=True) to write the demo's "
            f"entries ({', '.join(names)}) into it; nothing else in it is touched"
        )
    clash = [n for n in names if n not in previous and (out / n).exists()]
    if clash and not overwrite:
        raise OutputExistsError(
            f"{out}: {', '.join(clash)} exist but were not written by nb demo; move them away or "
            "pass --overwrite (overwrite=True) to replace them"
        )
    out.mkdir(parents=True, exist_ok=True)
    for n in dict.fromkeys([*previous, *names]):
        if n != MARKER_NAME:
            remove_path(out / n)
    atomic_write_json(marker, {"created_by": "nb demo", "entries": [*names, MARKER_NAME]})


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def _step(report: DemoReport, name: str, say: Callable[[str], None]) -> Iterator[list[str]]:
    say(f"[{len(report.steps) + 1}] {name} ...")
    detail: list[str] = []
    t0 = time.perf_counter()
    yield detail
    report.steps.append(StepResult(name, time.perf_counter() - t0, "; ".join(detail)))
    say(f"    {report.steps[-1].detail} ({report.steps[-1].seconds:.2f} s)")


def run_demo(
    out_dir: str | os.PathLike[str] = "nb-demo-out",
    *,
    n_subjects: int = 6,
    n_test_subjects: int = 2,
    duration: float = 60.0,
    n_channels: int = 21,
    sfreq: float = 128.0,
    format: str = "hdf5",
    epochs: int = 8,
    seed: int = 0,
    train: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> DemoReport:
    """Run the whole pipeline into ``out_dir``; return the report.

    Args:
        out_dir (`str` or `os.PathLike`, *optional*): where every artifact goes. A new or empty
            folder, or the output of an earlier run (recognised by its ``.nb-demo.json`` marker:
            only what that run wrote is removed).
        n_subjects (`int`, *optional*, defaults to 6): simulated subjects (one recording each).
        n_test_subjects (`int`, *optional*, defaults to 2): subjects held out as the test split.
        duration (`float`, *optional*, defaults to 60.0): seconds per recording.
        format (`str`, *optional*, defaults to ``"hdf5"``): nb-formats layout (``hdf5``, ``zarr``, ``parquet``).
        epochs (`int`, *optional*, defaults to 8): training epochs.
        train (`bool`, *optional*, defaults to `True`): train the model (needs torch).
        overwrite (`bool`, *optional*, defaults to `False`): also write into a non-empty folder
            that is not a demo output; only the demo's own entries in it are replaced.
        say (`Callable`, *optional*): where progress lines go (`print`).

    Raises:
        UserError: bad options.
        OutputExistsError: ``out_dir`` is not empty and was not written by the demo (see ``overwrite``).
        IntegrityError: a round trip did not give back what was written.
    """
    if not 1 <= n_test_subjects < n_subjects:
        raise UserError(f"n_test_subjects must be between 1 and n_subjects - 1; got {n_test_subjects}")
    out = Path(out_dir)
    formats_dir = out / f"eeg-{format}"
    shards_dir = out / "eeg-shards"
    pulled = out / "pulled"
    datasets_cache = out / "datasets-cache"
    names = [formats_dir.name, shards_dir.name, pulled.name, datasets_cache.name, "report.json"]
    _prepare_out(out, names, overwrite=overwrite)
    report = DemoReport(out_dir=str(out))

    recordings, windows = _simulate(report, say, n_subjects, duration, sfreq, n_channels, seed)
    ds = _convert(report, say, recordings, windows, formats_dir, format)
    test_subjects = {r.entities["subject"] for r in recordings[-n_test_subjects:]}
    _shard(report, say, ds, recordings, test_subjects, shards_dir)
    repo_id = "neurobridge/nb-demo-motor-imagery"
    _hub_round_trip(report, say, shards_dir, repo_id, pulled, datasets_cache)
    report.facts["hub_repo"] = repo_id
    if train:
        _train(report, say, pulled, n_channels, epochs, seed)

    atomic_write_json(
        out / "report.json",
        {
            "out_dir": report.out_dir,
            "facts": report.facts,
            "steps": [asdict(s) for s in report.steps],
            "skipped": report.skipped,
        },
    )
    return report


_Say = Callable[[str], None]


def _simulate(
    report: DemoReport, say: _Say, n_subjects: int, duration: float, sfreq: float, n_channels: int, seed: int
) -> tuple[list[Any], list[Any]]:
    from nb_demo.data import CLASSES, make_dataset

    with _step(report, "simulate", say) as d:
        recordings, windows = make_dataset(
            n_subjects, duration=duration, sfreq=sfreq, n_channels=n_channels, seed=seed
        )
        d.append(
            f"{len(recordings)} subjects x {duration:g} s, {n_channels} EEG channels at {sfreq:g} Hz, "
            f"{len(windows)} labelled windows ({len(CLASSES)} classes)"
        )
    return recordings, windows


def _convert(
    report: DemoReport, say: _Say, recordings: list[Any], windows: list[Any], formats_dir: Path, format: str
) -> Any:
    import nb_formats

    with _step(report, "convert", say) as d:
        nb_formats.write((recordings, windows), formats_dir, format=format, name="nb-demo-motor-imagery")
        ds = nb_formats.open(formats_dir, verify=True)
        x, y = ds[0]
        rec0 = recordings[0]
        w0 = windows[0]
        assert rec0.data is not None
        if not np.array_equal(x, rec0.data[:, w0.start : w0.stop]) or y != w0.target:
            raise IntegrityError(f"{formats_dir}: window 0 does not read back as written")
        raw_back = ds.recording(0).to_mne()
        if not np.array_equal(raw_back.get_data(), rec0.data.astype(np.float64)):
            raise IntegrityError(f"{formats_dir}: recording 0 does not read back as written")
        d.append(
            f"{format}: {len(ds)} windows, {_dir_size(formats_dir) / 1e6:.1f} MB; "
            "window 0 and the MNE Raw of recording 0 read back identical"
        )
    return ds


def _shard(
    report: DemoReport, say: _Say, ds: Any, recordings: list[Any], test_subjects: set[str], shards_dir: Path
) -> None:
    import nb_shards
    from nb_core.progress import progress

    with _step(report, "shard", say) as d:
        counts = {}
        subject_of = {r.id: r.entities["subject"] for r in recordings}
        split_of = [
            "test" if subject_of[ds.window(i).recording_id] in test_subjects else "train"
            for i in range(len(ds))
        ]
        for split in ("train", "test"):
            idx = [i for i, s in enumerate(split_of) if s == split]
            with nb_shards.ShardWriter(
                shards_dir,
                split=split,
                max_count=128,
                name="nb-demo-motor-imagery",
                description="Simulated motor-imagery EEG made by `nb demo`.",
                license="cc0-1.0",
            ) as w:
                for i in progress(idx, desc=f"shard {split}", unit="sample"):
                    w.write(ds.sample(i))
            counts[split] = len(idx)
        nb_shards.verify(shards_dir)
        n_shards = len(list(shards_dir.glob("*.tar")))
        d.append(
            f"{n_shards} shards ({counts['train']} train / {counts['test']} test samples), "
            f"{_dir_size(shards_dir) / 1e6:.1f} MB, verified"
        )
        report.facts["samples"] = counts


def _hub_round_trip(
    report: DemoReport, say: _Say, shards_dir: Path, repo_id: str, pulled: Path, datasets_cache: Path
) -> None:
    """Push to a local Hub emulator, pull back, and load with `datasets` when installed."""
    import nb_hub
    from nb_hub.testing import HubEmulator

    # The emulator speaks Git LFS "basic" transfer, not Xet: configure_clients() sets
    # HF_HUB_DISABLE_XET and points huggingface_hub and datasets at it for this block.
    with HubEmulator(tokens={"hf_demo_token": "neurobridge"}) as hub, hub.configure_clients():
        with _step(report, "push", say) as d:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", nb_hub.PreviewSkippedWarning)
                url = nb_hub.push(
                    shards_dir,
                    repo_id,
                    token="hf_demo_token",
                    endpoint=hub.endpoint,
                    commit_message="nb demo: simulated motor imagery",
                )
            d.append(
                f"pushed to the Hub emulator at {hub.endpoint} (commit {url.rsplit('/', 1)[-1][:12]}), "
                "dataset card generated"
            )
        for caught_w in caught:
            if issubclass(caught_w.category, nb_hub.PreviewSkippedWarning):
                report.skip(f"the dataset card's preview image: {caught_w.message}", say)
            else:
                warnings.warn_explicit(
                    caught_w.message, caught_w.category, caught_w.filename, caught_w.lineno
                )
        with _step(report, "pull", say) as d:
            got = nb_hub.pull(repo_id, token="hf_demo_token", endpoint=hub.endpoint, local_dir=pulled)
            d.append(
                f"{len(list(Path(got).glob('*.tar')))} shards downloaded into {pulled}, every sha256 verified"
            )
        _load_dataset(report, say, repo_id, datasets_cache)


def _load_dataset(report: DemoReport, say: _Say, repo_id: str, datasets_cache: Path) -> None:
    if not _has_module("datasets"):
        report.skip(
            "load_dataset: the `datasets` package is not installed "
            '(pip install "nb-hub[datasets]" enables this step)',
            say,
        )
        return
    with _step(report, "load_dataset", say) as d:
        import datasets

        # its own cache inside the output folder: nothing of the emulator's repos lands in
        # the user's Hugging Face cache
        dsd = datasets.load_dataset(repo_id, token="hf_demo_token", cache_dir=str(datasets_cache))
        sizes = ", ".join(f"{k}: {v.num_rows}" for k, v in dsd.items())
        d.append(f"datasets.load_dataset({repo_id!r}) with no loading script: {sizes} rows")


def _train(report: DemoReport, say: _Say, pulled: Path, n_channels: int, epochs: int, seed: int) -> None:
    from nb_demo.data import CLASSES

    with _step(report, "train", say) as d:
        from nb_demo.train import train_and_evaluate

        result = train_and_evaluate(
            pulled, pulled, n_channels=n_channels, n_classes=len(CLASSES), epochs=epochs, seed=seed
        )
        report.facts["train"] = asdict(result)
        d.append(
            f"{result.epochs} epochs on {result.train_samples} samples: test accuracy "
            f"{result.test_accuracy[-1]:.0%} on {result.test_samples} held-out samples "
            f"(chance {result.chance:.0%})"
        )


def _has_module(name: str) -> bool:
    """Is ``name`` importable? (`False` also when ``sys.modules[name]`` is `None`: blocked.)"""
    import sys

    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
