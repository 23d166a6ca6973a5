"""`nb demo --quick` as a user runs it: a subprocess with a fresh HOME, then everything it claims.

One run (module fixture) is shared by the tests below: the report renders in headless Chromium
with every image, the printed commands work, nothing lands in the home folder, the accuracy it
reaches, the resumed training, the model and the cards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nb_core.cli import main

OUT_NAME = "demo-quick"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `nb demo --quick` run, shared by every test here, also across pytest-xdist workers."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every xdist worker
    with FileLock(str(shared / "nb-demo-quick.lock")):
        result = shared / "nb-demo-quick.json"
        if not result.is_file():
            result.write_text(json.dumps(_run_quick(shared / "nb-demo-quick")))
        got = json.loads(result.read_text())
    base = Path(got["base"])
    return {**got, "out": base / OUT_NAME, "home": base / "home"}


def _run_quick(base: Path) -> dict[str, Any]:
    home = base / "home"
    home.mkdir(parents=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE", "XDG_", "NB_", "MNE_")) and k != "MPLCONFIGDIR"
    }
    env.update(HOME=str(home), TMPDIR=str(base))
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "nb_core.cli", "demo", "--quick", "--out", OUT_NAME],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return {"base": str(base), "stdout": res.stdout, "seconds": time.perf_counter() - t0}


def test_quick_learns_and_resumes_exactly(quick: dict[str, Any]) -> None:
    saved = json.loads((quick["out"] / "report.json").read_text())
    names = [s["name"] for s in saved["steps"]]
    assert names == [
        "simulate", "convert", "shard", "push", "pull", "load_dataset", "bids", "train", "model", "report",
    ]  # fmt: skip
    assert saved["skipped"] == []
    train = saved["facts"]["train"]
    # 4 subjects x 40 s, 12 epochs, seed 0: the held-out subject's 25 windows are classified with
    # 100 % accuracy (measured); chance is 25 %.
    assert train["chance"] == 0.25 and len(train["test_accuracy"]) == 12
    assert train["test_accuracy"][-1] >= 0.9, train["test_accuracy"]
    assert train["test_accuracy"][0] < 0.6
    assert train["test_samples"] == saved["facts"]["samples"]["test"] == 25
    r = train["resume"]
    assert r["identical_losses"] and r["identical_weights"] and 0 < r["checkpoint_step"] < r["steps"]
    assert r["checkpoint_step"] % train["steps_per_epoch"] != 0  # in the middle of an epoch
    assert len(train["losses"]) == r["steps"] == 12 * train["steps_per_epoch"]
    assert set(saved["facts"]["bench"]) == {"hdf5", "zarr", "parquet"}
    bids = saved["facts"]["bids"]
    assert bids["n_subjects"] == 2 and sum(bids["mri_rows"].values()) == 6
    assert bids["nifti_decoded_as"].endswith("Nifti1ImageWrapper")


def test_nothing_written_outside_out(quick: dict[str, Any]) -> None:
    home = quick["home"]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
    assert (quick["out"] / "caches" / "huggingface" / "datasets").is_dir()
    parent = quick["out"].parent
    assert sorted(p.name for p in parent.iterdir() if not p.name.startswith(("tmp", "pymp"))) == [
        "demo-quick",
        "home",
    ]


def test_summary_commands_work_and_no_stale_address(
    quick: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    stdout = quick["stdout"]
    assert "http://127.0.0.1" not in stdout  # the emulator is gone when the demo ends
    assert "has stopped" in stdout
    commands = re.findall(r"^\s+\$ (nb .+)$", stdout, flags=re.M)
    kinds = {" ".join(c.split()[:3]) for c in commands}
    assert {"nb formats inspect", "nb shards inspect", "nb shards verify", "nb bids inspect"} <= kinds
    for cmd in commands:
        args = cmd.split()[1:]
        if args[:2] == ["hub", "emulator"]:
            continue  # serves until stopped; its storage is checked below
        path = Path(args[-1])
        args[-1] = str(path if path.is_absolute() else quick["out"].parent / path)
        assert main(args) == 0, cmd
    assert "nb-demo-motor-imagery" in capsys.readouterr().out
    hub = quick["out"] / "hub"
    assert hub.is_dir() and any(hub.rglob("*"))


def test_card_has_units_rates_channels_and_model_links_dataset(quick: dict[str, Any]) -> None:
    card = (quick["out"] / "pulled" / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| `eeg`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:] == ["V", "128 Hz", "8"], row
    model = quick["out"] / "model"
    text = (model / "README.md").read_text()
    assert "datasets:\n- neurobridge/nb-demo-motor-imagery" in text
    assert "(/datasets/neurobridge/nb-demo-motor-imagery)" in text
    from safetensors.numpy import load_file

    weights = load_file(str(model / "model.safetensors"))
    assert weights["temporal.weight"].shape == (16, 8, 17)
    assert np.isfinite(weights["classify.weight"]).all()
    ckpt = load_file(str(quick["out"] / "checkpoint" / "optimizer.safetensors"))
    assert any(k.endswith("exp_avg") for k in ckpt)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=900,
            check=False,
        )
        found = shutil.which("chromium")
        if found:
            return found
    pytest.skip(
        "no headless browser: Debian's `chromium` is not installed and could not be installed "
        "(apt-get install -y chromium, as root)"
    )


_PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images).map(i => ({src: i.getAttribute("src"), w: i.naturalWidth, h: i.naturalHeight}));
  const pre = document.createElement("pre"); pre.id = "nb-probe"; pre.textContent = JSON.stringify(imgs);
  document.body.appendChild(pre);
});
</script>"""


def test_report_renders_in_headless_chromium(quick: dict[str, Any], tmp_path: Path) -> None:
    browser = _chromium()
    page = quick["out"] / "report.html"
    html = page.read_text()
    probe = page.with_name("report-probe.html")  # next to the report: the same relative image paths
    probe.write_text(html.replace("</body>", _PROBE + "</body>"))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
    ]
    res = subprocess.run(
        [browser, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180
    )
    probe.unlink()
    found = re.search(r'<pre id="nb-probe">(.*?)</pre>', res.stdout, flags=re.S)
    assert found, (res.returncode, res.stderr[-2000:])
    images = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    srcs = {i["src"] for i in images}
    assert {f"report-files/{n}.png" for n in ("signal", "nifti", "bench", "training", "accuracy")} <= srcs
    assert "pulled/nb-preview.png" in srcs  # the dataset card, rendered from Markdown, with its preview
    broken = [i for i in images if i["w"] == 0 or i["h"] == 0]
    assert not broken, broken
    assert "<table>" in res.stdout and "nb demo report" in res.stdout
