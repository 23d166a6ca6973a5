"""Every example printed by ``nb ... --help`` runs as printed.

The argparse tree of the ``nb`` entry point (every installed package's commands) is walked; the
``examples:`` section of each ``--help`` gives one command a line (after the command, two or more
spaces and a description, or a ``# comment``). Each example runs in ``bash`` exactly as printed,
in a fresh working folder holding the inputs the examples name (``sub-01_raw.fif``, ``out/ds``,
``shards/``, ``rec.edf``, ...: small generated data), with:

- ``HF_ENDPOINT`` pointing at a :class:`~nb_hub.testing.HubEmulator` that holds ``me/eeg-demo``
  (tag ``v1.0``), so nothing reaches the internet; ``HF_HUB_DISABLE_XET`` is *not* set (``nb hub``
  must talk to an emulator by itself) and ``HF_HOME`` is private to the test;
- examples that name ``http://127.0.0.1:8765`` run while an emulator serves there (the
  ``nb hub emulator --port 8765`` example itself, run in the background, or one started by the
  test), one at a time (a lock file);
- ``nb COMMAND --help`` is run for every command group.

An example passes when it exits 0 without a traceback, within ``TIMEOUT`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nb_core.cli import build_parser

#: Seconds one example may take (the demo trains a small network; everything else is quick).
TIMEOUT = 600
#: Where examples find a running emulator (``nb hub emulator --port 8765`` and the lines using it).
EMULATOR_PORT = 8765
#: Parsed arguments (argparse ``dest``) that name what a command writes (never prepared as inputs).
OUTPUT_DESTS = {"output", "out", "local_dir", "json", "plot", "storage", "workdir", "dir", "dst"}
#: Commands whose output is the last value of a list argument: (group, command) -> dest.
OUTPUT_LAST: dict[tuple[str, str], str] = {}


# -- the examples ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    command: tuple[str, ...]  # ("hub", "push"): the parser whose --help prints it
    lines: tuple[str, ...]  # the command lines, as printed (comments dropped)

    @property
    def id(self) -> str:
        return " ".join(("nb", *self.command)) + " :: " + " && ".join(self.lines)


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def example_lines(epilog: str | None) -> list[str]:
    """The lines of the ``examples:`` section of an epilog (indented lines after ``examples:``)."""
    out: list[str] = []
    inside = False
    for raw in (epilog or "").splitlines():
        if raw.strip() == "examples:":
            inside = True
            continue
        if inside:
            if not raw.startswith("  ") or not raw.strip():
                break
            out.append(raw.strip())
    return out


def command_of(line: str) -> str:
    """The command of an example line: what precedes a ``#`` comment or a two-space gap."""
    if line.startswith("#"):
        return ""
    return re.split(r"\s{2,}|\s#\s", line, maxsplit=1)[0].strip()


def collect_examples() -> list[Example]:
    parser = build_parser()
    tree = list(_walk(parser, ()))
    groups = [path[0] for path, _ in tree if len(path) == 1]
    found: list[Example] = []
    for path, p in tree:
        lines = [command_of(line) for line in example_lines(p.epilog)]
        lines = [c for c in lines if c]
        if any("nb hub emulator" in c for c in lines):
            found.append(Example(path, tuple(lines)))  # a server, then what talks to it: one sequence
            continue
        for c in lines:
            if "COMMAND" in shlex.split(c):  # a placeholder: every command group
                found += [Example(path, (c.replace("COMMAND", g),)) for g in groups]
            else:
                found.append(Example(path, (c,)))
    return found


EXAMPLES = collect_examples()


def test_every_command_has_examples() -> None:
    for path, p in _walk(build_parser(), ()):
        assert example_lines(p.epilog), f"`nb {' '.join(path)} --help` prints no examples"
    assert len(EXAMPLES) > 20


# -- the inputs examples name -----------------------------------------------------------------------
def _write_edf(path: Path, data: np.ndarray, sfreq: int, labels: list[str]) -> None:
    """A minimal EDF file (16-bit, 1 s records) of ``data`` in volts."""
    n_ch, n_times = data.shape
    n_rec = n_times // sfreq
    uv = data[:, : n_rec * sfreq] * 1e6
    pmin, pmax = float(np.floor(uv.min())) - 1, float(np.ceil(uv.max())) + 1
    dig = np.round((uv - pmin) / (pmax - pmin) * 65535 - 32768).clip(-32768, 32767).astype("<i2")

    def f(v: object, n: int) -> bytes:
        return str(v).encode("ascii")[:n].ljust(n)

    head = f("0", 8) + f("X X X X", 80) + f("Startdate 01-JAN-2024 X X X", 80) + f("01.01.24", 8)
    head += f("00.00.00", 8) + f(256 * (n_ch + 1), 8) + f("", 44) + f(n_rec, 8) + f(1, 8) + f(n_ch, 4)
    for fields in (
        [f(lb, 16) for lb in labels],
        [f("AgAgCl electrode", 80)] * n_ch,
        [f("uV", 8)] * n_ch,
        [f(f"{pmin:g}", 8)] * n_ch,
        [f(f"{pmax:g}", 8)] * n_ch,
        [f(-32768, 8)] * n_ch,
        [f(32767, 8)] * n_ch,
        [f("HP:0.1Hz", 80)] * n_ch,
        [f(sfreq, 8)] * n_ch,
        [f("", 32)] * n_ch,
    ):
        head += b"".join(fields)
    body = b"".join(dig[:, r * sfreq : (r + 1) * sfreq].tobytes() for r in range(n_rec))
    path.write_bytes(head + body)


def _raw(subject: str, seed: int):  # type: ignore[no-untyped-def]
    from nb_core.testing import simulate_raw

    return simulate_raw(n_channels=8, sfreq=100.0, duration=20.0, seed=seed, subject=subject)


def _fif(d: Path, name: str, seed: int) -> None:
    _raw(name[4:6], seed).save(d / name, overwrite=True, verbose="error")


def _edf(d: Path, name: str, seed: int) -> None:
    raw = _raw("01", seed)
    _write_edf(d / name, raw.get_data(), 100, [f"EEG {c}" for c in raw.ch_names])


def _formats(d: Path, name: str, fmt: str) -> None:
    import nb_formats

    (d / name).parent.mkdir(parents=True, exist_ok=True)
    nb_formats.write([_raw("01", 1), _raw("02", 2)], d / name, format=fmt, show_progress=False)


def _shards(d: Path, name: str) -> None:
    import nb_shards

    out = d / name
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        with nb_shards.ShardWriter(out, split=split, max_count=3, name="eeg-demo") as w:
            for i in range(n):
                w.write(
                    {
                        "__key__": f"{split}{i:03d}",
                        "eeg.npy": rng.normal(0, 1e-5, (4, 100)).astype(np.float32),
                        "json": {"target": i % 2},
                    }
                )


def _npz(d: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    np.savez(d / name, eeg=rng.normal(0, 1e-5, (10, 4, 100)).astype(np.float32), target=np.arange(10) % 2)


def _nwb(d: Path, name: str) -> None:
    import datetime as dt

    import pynwb
    from pynwb.ecephys import ElectricalSeries

    nwb = pynwb.NWBFile(
        session_description="example",
        identifier="nb-example",
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    dev = nwb.create_device(name="amp")
    grp = nwb.create_electrode_group(name="g", description="eeg", location="scalp", device=dev)
    nwb.add_electrode_column(name="label", description="channel name")
    for ch in ["Cz", "Pz", "Oz"]:
        nwb.add_electrode(group=grp, location="scalp", label=ch)
    region = nwb.create_electrode_table_region(region=[0, 1, 2], description="all")
    data = np.arange(600 * 3, dtype="int16").reshape(600, 3)
    nwb.add_acquisition(
        ElectricalSeries(name="eeg", data=data, electrodes=region, rate=100.0, conversion=1e-6)
    )
    with pynwb.NWBHDF5IO(str(d / name), "w") as io:
        io.write(nwb)


def _bids(d: Path, name: str) -> None:
    from nb_bids.testing import make_bids_tree

    make_bids_tree(d / name, n_subjects=2, eeg=False)


def _bids_hf(d: Path, name: str) -> None:
    import nb_bids

    src = d / "bids-ds"
    if not src.exists():
        _bids(d, "bids-ds")
    nb_bids.convert(src, d / name, max_workers=0)


def _mix(d: Path, name: str) -> None:
    """A mixture spec over two artifacts of the inputs folder (absolute paths: only the spec is copied)."""
    if not (d / "shards").exists():
        _shards(d, "shards")
    (d / name).write_text(
        "seed: 0\nepoch: {samples: 100}\nsources:\n"
        f"  - {{path: {d / 'shards'}, name: a, weight: 0.7, filter: {{target: {{ge: 1}}}}, columns: {{x: eeg, y: json.target}}}}\n"
        f"  - {{path: {d / 'shards'}, name: b, weight: 0.3, columns: {{x: eeg, y: json.target}}}}\n"
    )


#: path as the examples write it -> (file or folder to make, maker)
INPUTS: dict[str, tuple[str, Callable[[Path, str], None]]] = {
    "sub-01_raw.fif": ("sub-01_raw.fif", lambda d, n: _fif(d, n, 1)),
    "sub-02_raw.fif": ("sub-02_raw.fif", lambda d, n: _fif(d, n, 2)),
    "rec.edf": ("rec.edf", lambda d, n: _edf(d, n, 3)),
    "sub-01.edf": ("sub-01.edf", lambda d, n: _edf(d, n, 4)),
    "sub-02.edf": ("sub-02.edf", lambda d, n: _edf(d, n, 5)),
    "out/ds": ("out/ds", lambda d, n: _formats(d, n, "zarr")),
    "data.h5/": ("data.h5", lambda d, n: _formats(d, n, "hdf5")),
    "out/eeg-shards": ("out/eeg-shards", _shards),
    "shards/": ("shards", _shards),
    "mix.yaml": ("mix.yaml", _mix),
    "X.npz": ("X.npz", _npz),
    "*.nwb": ("sub-01.nwb", _nwb),
    "bids-ds/": ("bids-ds", _bids),
    "bids-hf/": ("bids-hf", _bids_hf),
    "bids-counts.json": ("bids-counts.json", lambda d, n: (d / n).write_text('{"n_subjects": 2}')),
}


def inputs_of(example: Example) -> set[str]:
    """The INPUTS keys an example reads, found by parsing it with the ``nb`` parser itself
    (a path it writes, or one written by an earlier line of its sequence, is not prepared)."""
    parser = build_parser()
    needed: set[str] = set()
    produced: set[str] = set()
    for line in example.lines:
        words = shlex.split(line)
        if "nb" not in words or "--help" in words or "--version" in words:
            continue
        args = vars(parser.parse_args(words[words.index("nb") + 1 :]))
        outputs = {str(args[d]) for d in OUTPUT_DESTS if args.get(d) is not None}
        last = OUTPUT_LAST.get((args.get("command"), args.get(f"{args.get('command')}_command")))
        if last is not None and args.get(last):
            outputs.add(args[last][-1])
        values: list[str] = []
        for d, v in args.items():
            if d not in OUTPUT_DESTS:
                values += [x for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)]
        needed |= {v for v in values if v in INPUTS and v not in outputs and v not in produced}
        produced |= outputs
    return needed


@pytest.fixture(scope="module")
def inputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("example-inputs")
    for key, (rel, make) in INPUTS.items():
        make(d, rel)
        assert (d / rel).exists(), key
    return d


# -- the Hub the examples talk to ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def hub(inputs_dir: Path) -> Iterator[str]:
    """An emulator holding ``me/eeg-demo`` (branch main, tag v1.0), as the pull examples expect."""
    import huggingface_hub.constants as constants

    import nb_hub
    from nb_hub.testing import HubEmulator

    with HubEmulator() as emu:
        saved = constants.HF_HUB_CACHE
        constants.HF_HUB_CACHE = str(inputs_dir.parent / "hub-fixture-cache")
        try:
            nb_hub.push(
                inputs_dir / "out/eeg-shards",
                "me/eeg-demo",
                endpoint=emu.endpoint,
                preview=False,
                license="cc-by-4.0",
            )
            from huggingface_hub import HfApi

            HfApi(endpoint=emu.endpoint, token="t").create_tag("me/eeg-demo", tag="v1.0", repo_type="dataset")
        finally:
            constants.HF_HUB_CACHE = saved
        yield emu.endpoint


@contextlib.contextmanager
def _port_lock() -> Iterator[None]:
    lock = Path(tempfile.gettempdir()) / f"nb-test-examples-port-{EMULATOR_PORT}.lock"
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _env(work: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HF_ENDPOINT=endpoint,
        HF_HOME=str(work / ".hf-home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NB_PROGRESS="0",
        MPLBACKEND="Agg",
        TMPDIR=str(work / ".tmp"),
    )
    env.pop("NB_DEBUG", None)
    return env


def _check(line: str, r: subprocess.CompletedProcess[str]) -> None:
    out = (r.stdout or "")[-3000:] + "\n" + (r.stderr or "")[-3000:]
    assert r.returncode == 0, f"`{line}` exited {r.returncode}:\n{out}"
    assert "Traceback (most recent call last)" not in (r.stderr or ""), (
        f"`{line}` printed a traceback:\n{out}"
    )


def _run(line: str, work: Path, env: dict[str, str]) -> None:
    try:
        r = subprocess.run(
            ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{line}` did not finish within {TIMEOUT} s: make the printed example small")
    _check(line, r)


@contextlib.contextmanager
def _background(line: str, work: Path, env: dict[str, str], ready: str) -> Iterator[None]:
    """Run a server example in the background until ``ready`` is printed; stop it with Ctrl-C."""
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {line}"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    seen = ""
    while ready not in seen:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"`{line}` did not start serving:\n{seen}{out}\n{err}")
        seen += proc.stdout.readline()
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        assert proc.returncode == 0, f"`{line}` ended with {proc.returncode}:\n{err}"
        assert "Traceback" not in err, err


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_help_example_runs_as_printed(example: Example, inputs_dir: Path, hub: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / ".tmp").mkdir()
    try:
        for key in sorted(inputs_of(example)):
            rel = INPUTS[key][0]
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            if (inputs_dir / rel).is_dir():
                shutil.copytree(inputs_dir / rel, work / rel)
            else:
                shutil.copy2(inputs_dir / rel, work / rel)
        env = _env(work, hub)
        uses_port = any(f"127.0.0.1:{EMULATOR_PORT}" in c or "nb hub emulator" in c for c in example.lines)
        with _port_lock() if uses_port else contextlib.nullcontext():
            if any("nb hub emulator" in c for c in example.lines):
                server, *rest = example.lines
                with _background(server, work, env, ready="Hub emulator serving at"):
                    for line in rest:
                        _run(line, work, env)
            elif uses_port:
                from nb_hub.testing import HubEmulator

                with HubEmulator(port=EMULATOR_PORT):
                    for line in example.lines:
                        _run(line, work, env)
            else:
                for line in example.lines:
                    _run(line, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # a long example's data goes at once


def test_example_parsing() -> None:
    assert command_of("nb demo --no-train   # skip training") == "nb demo --no-train"
    assert command_of("nb --version                 list installed packages") == "nb --version"
    assert command_of("# in another shell:") == ""
    assert example_lines("x\nexamples:\n  nb a\n  nb b  # c\nnote\n  nb z\n") == ["nb a", "nb b  # c"]
    ex = Example(("formats", "write"), ("nb formats write sub-01_raw.fif -o out/ds --format zarr",))
    assert inputs_of(ex) == {"sub-01_raw.fif"}
    ex = Example(("hub", "card"), ("nb hub card out/eeg-shards --output out/eeg-shards-card/README.md",))
    assert inputs_of(ex) == {"out/eeg-shards"}
