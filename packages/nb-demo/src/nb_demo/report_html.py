"""The demo's HTML report: ``OUT/report.html`` with its PNG figures in ``OUT/report-files/``.

Figures (matplotlib, Agg): a few seconds of EEG with channel names and a time axis in seconds,
middle slices of the NIfTI images as ``datasets`` decoded them, the nb-formats layouts compared
(write and read time, size), the training curve (with the resumed run drawn over it), and test
accuracy against chance. The dataset and model cards are rendered from their Markdown with
``markdown``. Every image is a file next to the page, referenced by a relative path.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> page = write_report(out, {"steps": [], "facts": {}, "skipped": []}, {})
    >>> page.name, "<html" in page.read_text()
    ('report.html', True)
"""

from __future__ import annotations

import html
import re
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from nb_core.atomic import atomic_path, atomic_write_bytes

__all__ = ["FILES_DIR", "REPORT_NAME", "plot_signal", "render_markdown", "write_report"]

REPORT_NAME = "report.html"
FILES_DIR = "report-files"
_SIGNAL_SECONDS = 4.0
_MAX_CHANNELS = 8


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})
    _plt().close(fig)


def plot_signal(
    path: Path,
    data: np.ndarray,
    sfreq: float,
    ch_names: list[str],
    events: list[tuple[float, float, str]] | None = None,
    *,
    unit: str = "V",
) -> Path:
    """A few seconds of ``data`` (channels × times): one trace per channel, named, time in seconds."""
    plt = _plt()
    n_t = min(data.shape[1], int(_SIGNAL_SECONDS * sfreq))
    seg = np.asarray(data[:_MAX_CHANNELS, :n_t], dtype=np.float64)
    seg = seg - seg.mean(axis=1, keepdims=True)
    scale = float(np.abs(seg).max()) or 1.0
    t = np.arange(n_t) / sfreq
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(seg) + 1.4))
    for i, row in enumerate(seg):
        ax.plot(t, row / scale - 2 * i, lw=0.7, color="C0")
    for onset, dur, label in events or []:
        if onset < t[-1]:
            ax.axvspan(onset, min(onset + dur, t[-1]), color="C1", alpha=0.12)
            ax.text(onset + 0.02, 1.2, label, fontsize=7, color="C1")
    ax.set_yticks([-2 * i for i in range(len(seg))], ch_names[: len(seg)], fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, t[-1])
    ax.set_title(
        f"first {n_t / sfreq:g} s, {len(seg)} of {data.shape[0]} channels, {sfreq:g} Hz "
        f"(±{scale * 1e6:.0f} µ{unit} full scale per trace; shaded: labelled events)",
        fontsize=9,
    )
    fig.tight_layout()
    _save(fig, path)
    return path


def _plot_nifti(path: Path, volumes: dict[str, np.ndarray]) -> Path:
    from nb_demo.bids_step import nifti_slices

    plt = _plt()
    fig, axes = plt.subplots(len(volumes), 3, figsize=(7.5, 2.6 * len(volumes)), squeeze=False)
    for row, (name, vol) in zip(axes, volumes.items()):
        short = name.rsplit("/", 1)[-1].split(".")[0].rsplit("_", 1)[-1]  # the BIDS suffix: T1w, bold
        for ax, sl, plane in zip(row, nifti_slices(vol), ("sagittal", "coronal", "axial")):
            ax.imshow(np.rot90(sl), cmap="gray")
            ax.set_title(f"{short} {'×'.join(map(str, vol.shape))}: {plane}", fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    _save(fig, path)
    return path


def _plot_bench(path: Path, bench: dict[str, dict[str, float]]) -> Path:
    plt = _plt()
    names = list(bench)
    metrics = (("write_s", "write (s)"), ("read_s", "open, verify sha256, read all (s)"), ("mb", "size (MB)"))
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8))
    for ax, (key, label) in zip(axes, metrics):
        vals = [bench[n][key] for n in names]
        bars = ax.bar(names, vals, color=["C0", "C2", "C3"][: len(names)])
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_title(label, fontsize=9)
    fig.suptitle("nb-formats layouts, the same EEG windows (one run on this machine)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return path


def _plot_training(path: Path, train: dict[str, Any], resumed_losses: list[float] | None) -> Path:
    plt = _plt()
    losses = train["losses"]
    spe = max(train.get("steps_per_epoch") or 1, 1)
    x = np.arange(1, len(losses) + 1) / spe
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
    ax1.plot(x, losses, lw=1.2, label="uninterrupted run")
    resume = train.get("resume") or {}
    if resume and resumed_losses:
        k = resume["checkpoint_step"]
        ax1.plot(x[k:], resumed_losses[k:], "--", lw=1.2, color="C1", label="resumed from checkpoint")
        ax1.axvline(k / spe, color="grey", lw=0.8, ls=":")
        ax1.text(k / spe, max(losses), " checkpoint", fontsize=7, va="top")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax1.legend(fontsize=7)
    acc = train["test_accuracy"]
    ax2.plot(np.arange(1, len(acc) + 1), acc, "o-", label="test accuracy (held-out subjects)")
    ax2.axhline(train["chance"], color="grey", ls="--", label=f"chance ({train['chance']:.0%})")
    ax2.set_ylim(0, 1.05)
    ax2.set_xlabel("epoch")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    return path


def _plot_accuracy(path: Path, train: dict[str, Any]) -> Path:
    plt = _plt()
    acc, chance = train["test_accuracy"][-1], train["chance"]
    fig, ax = plt.subplots(figsize=(4, 2.8))
    bars = ax.bar(["chance", "test accuracy"], [chance, acc], color=["grey", "C2"])
    ax.bar_label(bars, labels=[f"{chance:.0%}", f"{acc:.0%}"], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{train['test_samples']} windows of held-out subjects", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return path


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)"')


def _safe_href(m: re.Match[str]) -> str:
    scheme = urllib.parse.urlsplit(html.unescape(m[2])).scheme.lower()
    return m[0] if scheme in ("", "http", "https", "mailto") else f'{m[1]}#"'


def render_markdown(text: str, *, image_base: str = "", shift_headings: int = 0) -> str:
    """Markdown → HTML (tables and code blocks); YAML front matter shown as a code block.

    A card can come from anyone's repo, so raw HTML in it is shown as text, not rendered (HTML
    comments, such as nb-hub's markers, are dropped), and a link that is not ``http(s)``,
    ``mailto`` or relative (``javascript:`` say) goes nowhere.
    Relative image paths are prefixed with ``image_base`` (the card's folder, relative to the page);
    headings are moved ``shift_headings`` levels down (a card's ``#`` under the page's ``##``).

    Example:
        >>> render_markdown("**hi** <script>x()</script> [a](javascript:x())")
        '<p><strong>hi</strong> &lt;script&gt;x()&lt;/script&gt; <a href="#">a</a></p>'
    """
    import markdown

    meta = _FRONT_MATTER.match(text)
    body = _COMMENT.sub("", text[meta.end() :] if meta else text)
    md = markdown.Markdown(extensions=["tables", "fenced_code"])
    md.preprocessors.deregister("html_block")  # raw HTML: escaped like any text
    md.inlinePatterns.deregister("html")
    out = _HREF.sub(_safe_href, md.convert(body))
    if image_base:
        out = re.sub(r'(<img[^>]*\bsrc=")(?![a-z]+:|/)([^"]+)"', lambda m: f'{m[1]}{image_base}/{m[2]}"', out)
    if shift_headings:
        out = re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m[1]}h{min(6, int(m[2]) + shift_headings)}>", out)
    if meta:
        out = f"<pre class='meta'>{html.escape(meta.group(0))}</pre>\n{out}"
    return out


_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
img{max-width:100%;border:1px solid #ddd}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;font-size:.9rem}
pre,code{background:#f5f5f5}pre{padding:.5rem;overflow-x:auto}
.card{border:1px solid #bbb;padding:0 1rem;margin:1rem 0;border-radius:4px}
"""


def _figures(files: Path, facts: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
    """Make every figure there is data for; name -> path relative to the page."""
    made: dict[str, str] = {}
    if "signal" in data:
        made["signal"] = plot_signal(files / "signal.png", **data["signal"]).name
    if data.get("volumes"):
        made["nifti"] = _plot_nifti(files / "nifti.png", data["volumes"]).name
    if facts.get("bench"):
        made["bench"] = _plot_bench(files / "bench.png", facts["bench"]).name
    if facts.get("train"):
        made["training"] = _plot_training(
            files / "training.png", facts["train"], data.get("resumed_losses")
        ).name
        made["accuracy"] = _plot_accuracy(files / "accuracy.png", facts["train"]).name
    return {k: f"{FILES_DIR}/{v}" for k, v in made.items()}


_CAPTIONS = {
    "signal": ("EEG", "The simulated motor-imagery EEG as written to nb-formats (recording 0)."),
    "nifti": (
        "NIfTI",
        "Middle slices of the MRI images, as `datasets.load_dataset` decoded them from the Hub.",
    ),
    "bench": ("nb-formats layouts", "Writing and reading the same windows in each layout."),
    "training": ("Training", "Loss per step and test accuracy per epoch."),
    "accuracy": ("Accuracy vs chance", "After the last epoch."),
}


def write_report(out: Path, saved: dict[str, Any], data: dict[str, Any], *, plots: bool = True) -> Path:
    """Write ``OUT/report.html`` (and its figures) from the saved report and in-memory data.

    Args:
        saved: what ``report.json`` holds (``steps``, ``facts``, ``skipped``).
        data: what the figures need: ``signal`` (:func:`plot_signal` arguments), ``volumes``,
            ``resumed_losses``, ``cards`` (title -> (Markdown text, image folder)), ``look``
            (what -> command).
        plots: make the figures (needs matplotlib).
    """
    files = out / FILES_DIR
    files.mkdir(parents=True, exist_ok=True)
    figs = _figures(files, saved.get("facts", {}), data) if plots else {}
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>nb demo report</title>"
        f"<style>{_CSS}</style></head><body>",
        "<h1>nb demo report</h1>",
    ]
    parts.append("<table><tr><th>step</th><th>seconds</th><th>detail</th></tr>")
    parts += [
        f"<tr><td>{html.escape(s['name'])}</td><td>{s['seconds']:.2f}</td><td>{html.escape(s['detail'])}</td></tr>"
        for s in saved.get("steps", [])
    ]
    parts.append("</table>")
    parts += [f"<p><b>skipped:</b> {html.escape(s)}</p>" for s in saved.get("skipped", [])]
    for key, src in figs.items():
        title, caption = _CAPTIONS[key]
        parts.append(
            f"<h2>{title}</h2><p>{render_markdown(caption)[3:-4]}</p>"
            f"<img id='fig-{key}' src='{html.escape(src)}' alt='{html.escape(title)}'>"
        )
    for title, (text, base) in data.get("cards", {}).items():
        parts.append(
            f"<h2>{html.escape(title)}</h2><div class='card'>{render_markdown(text, image_base=base, shift_headings=2)}</div>"
        )
    if data.get("look"):
        parts.append("<h2>Look at what was made</h2><table><tr><th>what</th><th>command</th></tr>")
        parts += [
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in data["look"].items()
        ]
        parts.append("</table>")
    parts.append("</body></html>\n")
    page = out / REPORT_NAME
    atomic_write_bytes(page, "\n".join(parts).encode("utf-8"))
    return page
