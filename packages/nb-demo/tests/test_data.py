from __future__ import annotations

import numpy as np

from nb_demo.data import CLASSES, make_dataset


def test_dataset_is_deterministic_and_labelled() -> None:
    recs, wins = make_dataset(n_subjects=2, duration=15.0, n_channels=8, seed=3)
    again, wins2 = make_dataset(n_subjects=2, duration=15.0, n_channels=8, seed=3)
    assert [w.to_dict() for w in wins] == [w.to_dict() for w in wins2]
    for a, b in zip(recs, again, strict=True):
        assert a.data is not None and b.data is not None
        np.testing.assert_array_equal(a.data, b.data)
        a.validate()
    assert {w.target for w in wins} <= set(range(len(CLASSES)))
    assert all(w.size == 128 for w in wins)
    assert recs[0].entities == {"subject": "01", "task": "motorimagery", "run": "1"}
    assert [a.description for a in recs[0].annotations][:3] == [CLASSES[w.target] for w in wins[:3]]  # type: ignore[index]
    assert recs[0].history[-1].name == "add_class_bursts"


def test_classes_differ_in_band_power() -> None:
    """The class bursts are real signal: each class raises power at its own frequency."""
    recs, wins = make_dataset(n_subjects=1, duration=60.0, n_channels=8, seed=0)
    data = recs[0].data
    assert data is not None
    freqs = np.fft.rfftfreq(128, 1 / 128)
    power: dict[int, list[np.ndarray]] = {}
    for w in wins:
        seg = data[:, w.start : w.stop]
        power.setdefault(int(w.target), []).append(np.abs(np.fft.rfft(seg, axis=1)).mean(axis=0))  # type: ignore[arg-type]
    for label, f in enumerate((8, 13, 20, 30)):
        if label not in power:
            continue
        mine = np.mean(power[label], axis=0)[freqs == f][0]
        others = [np.mean(v, axis=0)[freqs == f][0] for k, v in power.items() if k != label]
        assert mine > 1.5 * max(others)


def test_report_renders_a_strangers_card_as_text() -> None:
    """A card's raw HTML is shown as text in the report, never run; unsafe links go nowhere; the
    card's Markdown (tables, images, code, nb-hub's comment markers) renders as before."""
    from nb_demo.report_html import render_markdown

    card = (
        "---\nlicense: cc0-1.0\n---\n<!-- nb-hub:begin -->\n# Card\n\n<script>steal()</script>\n\n"
        '<img src=x onerror="steal()"> [ok](https://example.org) [bad](javascript:steal()) '
        "[bad too](JaVa&#115;cript:steal())\n\n| a | b |\n|---|---|\n| <b>1</b> | 2 |\n\n"
        "![preview](nb-preview.png)\n\n```\n<kept as code>\n```\n<!-- nb-hub:end -->\n"
    )
    out = render_markdown(card, image_base="pulled", shift_headings=2)
    assert "<script" not in out and "<img src=x" not in out and "<b>" not in out
    assert "&lt;script&gt;steal()&lt;/script&gt;" in out and "&lt;b&gt;1&lt;/b&gt;" in out
    assert '<a href="https://example.org">ok</a>' in out and out.count('<a href="#">') == 2
    assert '<img alt="preview" src="pulled/nb-preview.png" />' in out and "<h3>Card</h3>" in out
    assert "<table>" in out and "&lt;kept as code&gt;" in out and "nb-hub:begin" not in out
    assert "<pre class='meta'>" in out  # the YAML front matter, as a code block
