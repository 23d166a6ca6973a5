"""The end-to-end pipeline behind ``nb demo``.

1. **simulate** — MNE-simulated EEG for several subjects, with labelled events
   (:func:`nb_demo.data.make_dataset`);
2. **convert** — write it in every nb-formats layout (HDF5, Zarr, Parquet), reopen each lazily,
   check that windows and the MNE Raw come back as written, and time writing and reading;
3. **shard** — stream one layout (``format``) into WebDataset tar shards with nb-shards
   (subjects split into ``train`` and ``test``; channel names, unit and sampling rate in the
   manifest), then verify every shard;
4. **push** — start the offline Hub emulator (:class:`nb_hub.testing.HubEmulator`, its repos kept
   in ``OUT/hub``) and push the shards with their dataset card through the real
   ``huggingface_hub`` client;
5. **pull** — download them again into a fresh folder, verifying every sha256;
6. **load_dataset** — ``datasets.load_dataset`` reads the pushed shards with no loading script;
7. **bids** — a generated BIDS tree (T1w and bold NIfTI, BrainVision EEG) converted with
   :func:`nb_bids.convert`, pushed, and loaded back with ``datasets`` decoding the ``Nifti`` column;
8. **train** — a small network trained from the pulled shards with :class:`nb_shards.ShardLoader`,
   interrupted halfway by a checkpoint and resumed, which must match the uninterrupted run exactly;
9. **model** — the weights saved as safetensors with ``config.json`` and a model card linking
   the dataset, pushed to a model repo and downloaded back;
10. **report** — ``OUT/report.html`` with figures, and ``OUT/report.json``.

Every step is timed. Everything is written under the output folder, caches included
(``OUT/caches``: ``huggingface_hub``, ``datasets``, matplotlib, MNE, nb-bids; see
:mod:`nb_demo.isolation`). A step that cannot run because an optional package is missing
(``load_dataset`` and the BIDS step without ``datasets``, the card's preview image without
matplotlib) is reported as skipped, with the extra that enables it, in the report and as a
:class:`DemoSkipWarning`.

The output folder is never emptied blindly: the demo writes a marker file
(``.nb-demo.json``) listing what it created, and a later run removes only those entries. A
non-empty folder without the marker (``--out .`` in a project folder) is refused unless
``overwrite=True`` (``--overwrite``), and even then only the demo's own entries are replaced.

Example (a small run without training or BIDS; a few seconds):
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> report = run_demo(out, n_subjects=2, n_test_subjects=1, duration=8.0, n_channels=4,
    ...                   train=False, bids=False, say=lambda line: None)
    >>> [s.name for s in report.steps][:5]
    ['simulate', 'convert', 'shard', 'push', 'pull']
    >>> (out / "report.json").is_file() and (out / "report.html").is_file()
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
from nb_demo.isolation import caches_inside

__all__ = ["ENTRIES", "MARKER_NAME", "QUICK", "DemoReport", "DemoSkipWarning", "StepResult", "run_demo"]

#: The file that marks a folder as written by the demo; it lists the entries the demo created.
MARKER_NAME = ".nb-demo.json"
#: The nb-formats layouts the demo writes (and compares).
LAYOUTS = ("hdf5", "zarr", "parquet")
#: Everything the demo writes into its output folder (besides the marker).
ENTRIES = [
    *(f"eeg-{layout}" for layout in LAYOUTS),
    "eeg-shards",
    "pulled",
    "bids",
    "bids-hf",
    "checkpoint",
    "model",
    "hub",
    "caches",
    "report-files",
    "report.html",
    "report.json",
]


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
    """What the demo did and measured, and what it made (``made``: what, where, command to look)."""

    out_dir: str
    steps: list[StepResult] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    made: list[tuple[str, Path, str]] = field(default_factory=list)
    #: in-memory data for the report's figures (signal, volumes, cards...); not saved
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def table(self) -> str:
        """The steps as a text table, then what was skipped (and why)."""
        width = max(len(s.name) for s in self.steps) if self.steps else 4
        lines = [f"{'step':<{width}}  {'seconds':>8}  detail", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
        lines += [f"{s.name:<{width}}  {s.seconds:>8.2f}  {s.detail}" for s in self.steps]
        lines += [f"skipped: {s}" for s in self.skipped]
        return "\n".join(lines)

    def summary(self) -> str:
        """What was made, where, and the command to look at each; how it went."""
        lines = [f"made (all under {self.out_dir}/, caches included):"]
        for what, path, cmd in self.made:
            lines += [f"  {what}", f"      {path}", f"      $ {cmd}"]
        train = self.facts.get("train")
        if train:
            lines.append(
                f"test accuracy {train['test_accuracy'][-1]:.0%} on held-out subjects "
                f"(chance {train['chance']:.0%}); resumed training matched the uninterrupted run exactly"
            )
        if "hub" in self.facts:
            lines.append(
                "The Hub emulator ran on 127.0.0.1 only while the demo ran and has stopped; its repos "
                "are kept in the hub/ folder: the `nb hub emulator` command above serves them again "
                "(it prints its address)."
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """What ``report.json`` holds."""
        return {
            "out_dir": self.out_dir,
            "facts": self.facts,
            "steps": [asdict(s) for s in self.steps],
            "skipped": self.skipped,
            "made": [{"what": w, "path": str(p), "command": c} for w, p, c in self.made],
        }

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


#: Options of ``nb demo --quick`` (under a minute): ``run_demo(out, **QUICK)``.
QUICK: dict[str, Any] = {
    "n_subjects": 4,
    "n_test_subjects": 1,
    "duration": 40.0,
    "n_channels": 8,
    "epochs": 12,
}

DATASET_REPO = "neurobridge/nb-demo-motor-imagery"
BIDS_REPO = "neurobridge/nb-demo-bids"
MODEL_REPO = "neurobridge/nb-demo-shallownet"
#: The token (and user) the demo's Hub emulator accepts.
TOKEN, TOKEN_USER = "hf_demo_token", "neurobridge"
_Say = Callable[[str], None]


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
    bids: bool = True,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> DemoReport:
    """Run the whole pipeline into ``out_dir``; return the report.

    Args:
        out_dir (`str` or `os.PathLike`, *optional*): where every artifact goes (caches
            included). A new or empty folder, or the output of an earlier run (recognised by its
            ``.nb-demo.json`` marker: only what that run wrote is removed).
        n_subjects (`int`, *optional*, defaults to 6): simulated subjects (one recording each).
        n_test_subjects (`int`, *optional*, defaults to 2): subjects held out as the test split.
        duration (`float`, *optional*, defaults to 60.0): seconds per recording.
        format (`str`, *optional*, defaults to ``"hdf5"``): the nb-formats layout the shards
            are made from (all three are written and compared).
        epochs (`int`, *optional*, defaults to 8): training epochs.
        train (`bool`, *optional*, defaults to `True`): train, check resuming, save and push the
            model (needs torch and safetensors: ``nb-demo[train]``).
        bids (`bool`, *optional*, defaults to `True`): the BIDS → nb-bids → Hub → ``datasets`` step.
        overwrite (`bool`, *optional*, defaults to `False`): also write into a non-empty folder
            that is not a demo output; only the demo's own entries in it are replaced.
        say (`Callable`, *optional*): where progress lines go (`print`).

    Raises:
        UserError: bad options.
        OutputExistsError: ``out_dir`` is not empty and was not written by the demo (see ``overwrite``).
        IntegrityError: a round trip did not give back what was written, or the resumed training
            did not match the uninterrupted one.
    """
    if not 1 <= n_test_subjects < n_subjects:
        raise UserError(f"n_test_subjects must be between 1 and n_subjects - 1; got {n_test_subjects}")
    if format not in LAYOUTS:
        raise UserError(f"format must be one of {', '.join(LAYOUTS)}; got {format!r}")
    from nb_hub.testing import HubEmulator

    out = Path(out_dir)
    _prepare_out(out, ENTRIES, overwrite=overwrite)
    report = DemoReport(out_dir=str(out))
    with caches_inside(out / "caches") as caches:
        recordings, windows = _simulate(report, say, n_subjects, duration, sfreq, n_channels, seed)
        datasets_by_layout = _convert(report, say, recordings, windows, out)
        test_subjects = {r.entities["subject"] for r in recordings[-n_test_subjects:]}
        _shard(report, say, datasets_by_layout[format], recordings, test_subjects, out / "eeg-shards")
        with HubEmulator(storage=out / "hub", tokens={TOKEN: TOKEN_USER}) as hub, hub.configure_clients():
            _hub_round_trip(report, say, out, hub.endpoint, caches)
            if bids:
                _bids(report, say, out, hub.endpoint, caches, seed)
            if train:
                _train(report, say, out, n_channels, epochs, seed, hub.endpoint, caches)
        report.facts["hub"] = {"storage": str(out / "hub"), "running": False}
        _report(report, say, out)
    return report


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
    rec0 = recordings[0]
    report.data["signal"] = {
        "data": rec0.data,
        "sfreq": rec0.sfreq,
        "ch_names": list(rec0.ch_names),
        "events": [(a.onset, a.duration, a.description) for a in rec0.annotations or []],
    }
    return recordings, windows


def _convert(
    report: DemoReport, say: _Say, recordings: list[Any], windows: list[Any], out: Path
) -> dict[str, Any]:
    import nb_formats

    opened: dict[str, Any] = {}
    bench: dict[str, dict[str, float]] = {}
    with _step(report, "convert", say) as d:
        for layout in LAYOUTS:
            path = out / f"eeg-{layout}"
            t0 = time.perf_counter()
            nb_formats.write((recordings, windows), path, format=layout, name="nb-demo-motor-imagery")
            t1 = time.perf_counter()
            ds = nb_formats.open(path, verify=True)
            for i in range(len(ds)):
                ds[i]
            t2 = time.perf_counter()
            _check_round_trip(ds, recordings, windows, path)
            opened[layout] = ds
            bench[layout] = {"write_s": t1 - t0, "read_s": t2 - t1, "mb": _dir_size(path) / 1e6}
            report.made.append((f"EEG, nb-formats {layout}", path, f"nb formats inspect {path}"))
        d.append(
            f"{len(opened['hdf5'])} windows in "
            + ", ".join(f"{k} ({v['mb']:.1f} MB, write {v['write_s']:.2f} s)" for k, v in bench.items())
            + "; window 0 and the MNE Raw of recording 0 read back identical in each"
        )
    report.facts["bench"] = bench
    return opened


def _check_round_trip(ds: Any, recordings: list[Any], windows: list[Any], path: Path) -> None:
    x, y = ds[0]
    rec0, w0 = recordings[0], windows[0]
    if not np.array_equal(x, rec0.data[:, w0.start : w0.stop]) or y != w0.target:
        raise IntegrityError(f"{path}: window 0 does not read back as written")
    if not np.array_equal(ds.recording(0).to_mne().get_data(), rec0.data.astype(np.float64)):
        raise IntegrityError(f"{path}: recording 0 does not read back as written")


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
                # channel names, unit and sampling rate travel into the shards' manifest and card
                modalities=ds.manifest.modalities,
                recordings=ds.manifest.recordings,
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
    report.made.append(("EEG, nb-shards (WebDataset tar)", shards_dir, f"nb shards inspect {shards_dir}"))


def _hub_round_trip(report: DemoReport, say: _Say, out: Path, endpoint: str, caches: dict[str, Path]) -> None:
    """Push the shards to the Hub emulator, pull them back, and load them with `datasets`."""
    import nb_hub

    shards_dir, pulled = out / "eeg-shards", out / "pulled"
    with _step(report, "push", say) as d:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", nb_hub.PreviewSkippedWarning)
            url = nb_hub.push(
                shards_dir,
                DATASET_REPO,
                token=TOKEN,
                endpoint=endpoint,
                commit_message="nb demo: simulated motor imagery",
            )
        d.append(
            f"dataset repo {DATASET_REPO} on the local Hub emulator (commit {url.rsplit('/', 1)[-1][:12]}), "
            "dataset card generated"
        )
    _rewarn(report, say, caught)
    with _step(report, "pull", say) as d:
        got = nb_hub.pull(DATASET_REPO, token=TOKEN, endpoint=endpoint, local_dir=pulled)
        d.append(
            f"{len(list(Path(got).glob('*.tar')))} shards downloaded into {pulled}, every sha256 verified"
        )
    report.made.append(("the pulled dataset and its card (README.md)", pulled, f"nb shards verify {pulled}"))
    report.data.setdefault("cards", {})[f"Dataset card: {DATASET_REPO}"] = (
        (pulled / "README.md").read_text(encoding="utf-8"),
        "pulled",
    )
    if not _has_module("datasets"):
        report.skip(
            "load_dataset: the `datasets` package is not installed "
            '(pip install "nb-hub[datasets]" enables this step)',
            say,
        )
        return
    with _step(report, "load_dataset", say) as d:
        import datasets

        dsd = datasets.load_dataset(DATASET_REPO, token=TOKEN, cache_dir=str(caches["HF_DATASETS_CACHE"]))
        sizes = ", ".join(f"{k}: {v.num_rows}" for k, v in dsd.items())
        d.append(f"datasets.load_dataset({DATASET_REPO!r}) with no loading script: {sizes} rows")


def _rewarn(report: DemoReport, say: _Say, caught: list[warnings.WarningMessage]) -> None:
    import nb_hub

    for w in caught:
        if issubclass(w.category, nb_hub.PreviewSkippedWarning):
            report.skip(f"the dataset card's preview image: {w.message}", say)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _bids(
    report: DemoReport, say: _Say, out: Path, endpoint: str, caches: dict[str, Path], seed: int
) -> None:
    """BIDS tree → nb_bids.convert → push → datasets.load_dataset(..., "mri") with Nifti decoding."""
    missing = [m for m in ("datasets", "mne_bids", "nibabel") if not _has_module(m)]
    if missing:
        report.skip(
            f"bids: {', '.join(missing)} not installed "
            '(pip install "nb-bids[mne,nifti,datasets]" enables this step)',
            say,
        )
        return
    import nb_bids
    import nb_hub
    from nb_demo.bids_step import load_mri, make_tree

    root, hf = out / "bids", out / "bids-hf"
    with _step(report, "bids", say) as d:
        make_tree(root, n_subjects=2, seed=seed)
        conv = nb_bids.convert(
            root, hf, split="train=0.5,test=0.5", seed=seed, max_workers=0, name="nb-demo-bids"
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", nb_hub.PreviewSkippedWarning)
            nb_hub.push(
                hf, BIDS_REPO, token=TOKEN, endpoint=endpoint, commit_message="nb demo: a BIDS dataset"
            )
        mri = load_mri(BIDS_REPO, TOKEN, caches["HF_DATASETS_CACHE"])
        d.append(
            f"BIDS tree of {conv['n_subjects']} subjects, {conv['n_files']} files (T1w, bold, BrainVision EEG) "
            f"converted by nb-bids, pushed to {BIDS_REPO}, loaded with datasets: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(mri["rows"].items()))
            + f" MRI rows, NIfTI decoded as {mri['decoded']}"
        )
    _rewarn(report, say, caught)
    report.facts["bids"] = {
        "n_subjects": conv["n_subjects"],
        "n_files": conv["n_files"],
        "mri_rows": mri["rows"],
        "nifti_decoded_as": mri["decoded"],
    }
    report.data["volumes"] = mri["volumes"]
    report.data.setdefault("cards", {})[f"Dataset card: {BIDS_REPO}"] = (
        (hf / "README.md").read_text(encoding="utf-8"),
        "bids-hf",
    )
    report.made.append(("BIDS tree (NIfTI + EEG), generated", root, f"nb bids index {root}"))
    report.made.append(("BIDS converted for the Hub (Parquet, Nifti columns)", hf, f"nb bids inspect {hf}"))


def _train(
    report: DemoReport,
    say: _Say,
    out: Path,
    n_channels: int,
    epochs: int,
    seed: int,
    endpoint: str,
    caches: dict[str, Path],
) -> None:
    from nb_demo.data import CLASSES

    pulled, model_dir, ckpt = out / "pulled", out / "model", out / "checkpoint"
    with _step(report, "train", say) as d:
        from nb_demo.train import train_and_evaluate

        result = train_and_evaluate(
            pulled,
            pulled,
            n_channels=n_channels,
            n_classes=len(CLASSES),
            epochs=epochs,
            seed=seed,
            checkpoint_dir=ckpt,
            model_dir=model_dir,
        )
        report.facts["train"] = asdict(result)
        r = result.resume
        d.append(
            f"{result.epochs} epochs on {result.train_samples} samples: test accuracy "
            f"{result.test_accuracy[-1]:.0%} on {result.test_samples} held-out samples "
            f"(chance {result.chance:.0%})"
            + (
                f"; checkpoint at step {r['checkpoint_step']} of {r['steps']}, resumed run identical "
                "(every loss, every weight)"
                if r
                else ""
            )
        )
    if r:
        report.data["resumed_losses"] = result.losses[: r["checkpoint_step"]] + r["resumed_losses"]
    report.made.append(("training checkpoint (safetensors + JSON)", ckpt, f"ls {ckpt}"))
    with _step(report, "model", say) as d:
        from nb_demo.model_card import push_model, write_model_files

        sig = report.data["signal"]
        config = {
            "architecture": "ShallowNet (nb_demo.train)",
            "n_channels": n_channels,
            "n_times": int(sig["sfreq"]),
            "sfreq": sig["sfreq"],
            "ch_names": sig["ch_names"][:n_channels],
            "classes": list(CLASSES),
            "dataset": DATASET_REPO,
        }
        write_model_files(model_dir, MODEL_REPO, DATASET_REPO, report.facts["train"], config)
        commit = push_model(
            model_dir, MODEL_REPO, endpoint=endpoint, token=TOKEN, cache_dir=caches["HF_HUB_CACHE"]
        )
        d.append(
            f"model.safetensors + config.json + model card (links {DATASET_REPO}) pushed to model repo "
            f"{MODEL_REPO} (commit {commit[:12]}), downloaded back byte-identical"
        )
    report.data.setdefault("cards", {})[f"Model card: {MODEL_REPO}"] = (
        (model_dir / "README.md").read_text(encoding="utf-8"),
        "model",
    )
    report.made.append(
        ("trained model (safetensors) and its card", model_dir, f"cat {model_dir / 'README.md'}")
    )


def _report(report: DemoReport, say: _Say, out: Path) -> None:
    from nb_demo.report_html import write_report

    saved = report.to_json()
    atomic_write_json(out / "report.json", saved)
    plots = _has_module("matplotlib")
    if not plots:
        report.skip(
            'report figures: matplotlib is not installed (pip install "nb-hub[plot]" enables them)', say
        )
    hub = out / "hub"
    report.made.append(
        (
            "Hub emulator repos (the emulator stopped with the demo)",
            hub,
            f"nb hub emulator --port 0 --storage {hub} --token {TOKEN}:{TOKEN_USER}",
        )
    )
    report.data["look"] = {what: cmd for what, _, cmd in report.made}
    with _step(report, "report", say) as d:
        page = write_report(out, saved, report.data, plots=plots)
        d.append(f"{page} with {len(list((out / 'report-files').glob('*.png')))} figures")
    report.made.append(("this report", page, f"open {page}  (any web browser)"))
    atomic_write_json(out / "report.json", report.to_json())


def _has_module(name: str) -> bool:
    """Is ``name`` importable? (`False` also when ``sys.modules[name]`` is `None`: blocked.)"""
    import sys

    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
