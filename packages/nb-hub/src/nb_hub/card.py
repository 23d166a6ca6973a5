"""Dataset cards generated from an artifact's manifest.

:func:`card` builds a ``huggingface_hub.DatasetCard`` whose YAML metadata the Hub
validates (license, tags, task categories, size category, and the ``configs:`` that the
artifact's layout declares in :mod:`nb_core.layouts`, so that ``datasets.load_dataset(repo_id)``
works without a loading script) and whose body describes the data: modalities with shapes,
channels and sampling rates, recording/subject/session counts, splits, a preview image,
how to load it with nb and with plain ``datasets``, provenance, preprocessing and citation.

The generated body sits between two HTML comment markers; on re-push, everything the user
wrote outside them, and every YAML key that nb-hub does not generate, is kept.

Example:
    >>> from nb_core import Manifest, ModalitySpec
    >>> m = Manifest(name="demo", layout="shards", license="cc-by-4.0", splits={"train": 10},
    ...              modalities={"eeg": ModalitySpec(dtype="float32", shape=[4, 256], sfreq=128.0)})
    >>> c = card(m, repo_id="me/demo")
    >>> c.data.license, "eeg" in c.data.tags, c.data.size_categories
    ('cc-by-4.0', True, ['n<1K'])
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from nb_core.errors import UnsupportedFormatError
from nb_core.layouts import HFConfig, Layout, get_layout, manifest_configs
from nb_core.manifest import MANIFEST_NAME, Manifest
from nb_hub._cardyaml import size_category, split_front_matter

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "PREVIEW_NAME",
    "UNKNOWN_LICENSE",
    "card",
    "card_configs",
    "card_license",
    "merge_card_text",
]

#: Start of the generated part of the card body.
BEGIN_MARKER = "<!-- nb-hub:begin (generated from nb-manifest.json; edit outside these markers) -->"
#: End of the generated part of the card body.
END_MARKER = "<!-- nb-hub:end -->"
#: What a card says when no license is known (the Hub's own value for it).
UNKNOWN_LICENSE = "unknown"
#: File name of the preview image uploaded with the card.
PREVIEW_NAME = "nb-preview.png"

#: YAML keys nb-hub writes (others in an existing card are kept).
GENERATED_KEYS = ("license", "tags", "task_categories", "size_categories", "pretty_name", "configs")

_MODALITY_TAGS = {
    "eeg": ["eeg"],
    "meg": ["meg"],
    "ieeg": ["ieeg"],
    "ecog": ["ecog"],
    "emg": ["emg"],
    "spikes": ["electrophysiology"],
    "fmri": ["fmri", "mri"],
    "mri": ["mri"],
    "anat": ["mri"],
    "t1w": ["mri"],
    "dwi": ["mri", "dwi"],
    "nifti": ["mri"],
    "bold": ["fmri", "mri"],
}


def _layout(manifest: Manifest) -> Layout | None:
    """The registered layout of the manifest, or `None` when no installed package provides it."""
    try:
        return get_layout(manifest.layout)
    except UnsupportedFormatError:
        return None


def card_configs(manifest: Manifest) -> list[HFConfig]:
    """The card's ``configs:``: what the manifest's layout declares
    (:meth:`nb_core.layouts.Layout.configs`), or, when no installed package provides the layout,
    the configs its writer stored in ``manifest.extra["hf_configs"]``.

    Example:
        >>> from nb_core import Manifest
        >>> m = Manifest(name="x", layout="not-installed", extra={"hf_configs": [
        ...     {"config_name": "default", "data_files": [{"split": "train", "path": "*.parquet"}]}]})
        >>> [c.config_name for c in card_configs(m)]
        ['default']
    """
    layout = _layout(manifest)
    return layout.configs(manifest) if layout is not None else manifest_configs(manifest)


def _tags(manifest: Manifest) -> list[str]:
    tags = ["neuroscience"]
    for name in manifest.modalities:
        low = name.lower()
        for key, extra in _MODALITY_TAGS.items():
            if key in low:
                tags.extend(extra)
    layout = _layout(manifest)
    if layout is not None:
        tags.extend(layout.card_tags)
    tags.append("neurobridge")
    user = manifest.extra.get("hf_tags")
    if isinstance(user, list):
        tags.extend(str(t) for t in user)
    return list(dict.fromkeys(tags))


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def _metadata(manifest: Manifest, license: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"license": license}
    meta["pretty_name"] = manifest.name
    meta["tags"] = _tags(manifest)
    tasks = manifest.extra.get("hf_task_categories")
    meta["task_categories"] = list(tasks) if isinstance(tasks, list) and tasks else ["other"]
    n = manifest.n_samples or len(manifest.recordings) or len(manifest.files)
    meta["size_categories"] = [size_category(n)]
    configs = card_configs(manifest)
    if configs:
        meta["configs"] = [c.to_dict() for c in configs]
    return meta


def _body(manifest: Manifest, repo_id: str | None, preview: str | None, license: str) -> str:
    """The generated Markdown body: one small function per section."""
    out: list[str] = [*_intro(manifest), *_modalities(manifest), *_recordings(manifest)]
    if manifest.splits:
        out += ["## Splits", "", "| split | samples |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in manifest.splits.items()]
        out.append("")
    if preview:
        out += ["## Preview", "", f"![A few seconds of each modality]({preview})", ""]
    out += _how_to_load(manifest, repo_id or "<namespace>/<name>")
    out += _provenance(manifest)
    if manifest.citation:
        out += ["## Citation", "", "```bibtex", manifest.citation.strip(), "```", ""]
    if license == UNKNOWN_LICENSE:
        out += ["License: not stated (`unknown`); ask the dataset's authors before reusing it.", ""]
    else:
        out += [f"License: `{license}`.", ""]
    return "\n".join(out).rstrip() + "\n"


def _intro(manifest: Manifest) -> list[str]:
    out: list[str] = [f"# {manifest.name}", ""]
    if manifest.description:
        out += [manifest.description.strip(), ""]
    writer = " ".join(str(manifest.writer[k]) for k in ("package", "version") if manifest.writer.get(k))
    by = f", written by {writer}" if writer else ""
    out += [
        f"A neurobridge artifact (layout `{manifest.layout}`{by}): {len(manifest.files)} data files, "
        f"{_human(manifest.total_size)}, every file listed with its sha256 in `{MANIFEST_NAME}`.",
        "",
    ]
    return out


def _modalities(manifest: Manifest) -> list[str]:
    if not manifest.modalities:
        return []
    out = [
        "## Modalities",
        "",
        "| modality | dtype | shape per sample | unit | sampling rate | channels |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in manifest.modalities.items():
        shape = "×".join("?" if s is None else str(s) for s in spec.shape) or "scalar"
        sf = f"{spec.sfreq:g} Hz" if spec.sfreq else ""
        nch = str(len(spec.ch_names)) if spec.ch_names else ""
        out.append(f"| `{name}` | {spec.dtype} | {shape} | {spec.unit or ''} | {sf} | {nch} |")
    out.append("")
    for name, spec in manifest.modalities.items():
        if spec.ch_names:
            out += [f"Channels of `{name}`: " + ", ".join(spec.ch_names), ""]
    return out


def _recordings(manifest: Manifest) -> list[str]:
    if not manifest.recordings:
        return []
    ents: dict[str, Counter[str]] = {}
    for r in manifest.recordings:
        for k, v in r.entities.items():
            ents.setdefault(k, Counter())[v] += 1
    facts = [f"{len(manifest.recordings)} recordings"]
    for key in ("subject", "session", "task", "run"):
        if key in ents:
            facts.append(f"{len(ents[key])} {key}s" if key != "session" else f"{len(ents[key])} sessions")
    sfreqs = sorted({r.sfreq for r in manifest.recordings if r.sfreq})
    if sfreqs:
        facts.append("sampling rate " + ", ".join(f"{s:g} Hz" for s in sfreqs))
    return ["## Recordings", "", "; ".join(facts) + ".", ""]


def _how_to_load(manifest: Manifest, rid: str) -> list[str]:
    out = [
        "## How to load",
        "",
        "With neurobridge (`pip install nb-hub`), checksums verified:",
        "",
        "```python",
        "import nb_hub",
        "",
        f'data = nb_hub.open("{rid}")   # reader chosen from the manifest layout',
        f'path = nb_hub.pull("{rid}")   # or just download (cached) and verify',
        "```",
        "",
    ]
    if card_configs(manifest):
        out += [
            "With plain `datasets`, no loading script:",
            "",
            "```python",
            "from datasets import load_dataset",
            "",
            f'ds = load_dataset("{rid}")',
            "```",
            "",
        ]
    layout = _layout(manifest)
    if layout is not None and layout.card_text:
        out += [layout.card_text.strip(), ""]
    return out


def _provenance(manifest: Manifest) -> list[str]:
    history = manifest.provenance.get("preprocessing") or manifest.provenance.get("history")
    prov = {k: v for k, v in manifest.provenance.items() if k not in ("preprocessing", "history")}
    if not (prov or history):
        return []
    out = ["## Provenance", ""]
    if prov:
        out += ["```json", json.dumps(prov, indent=2, sort_keys=True), "```", ""]
    if history:
        out += ["Preprocessing history:", ""]
        steps = history if isinstance(history, list) else [history]
        for i, step in enumerate(steps, 1):
            if isinstance(step, dict) and "name" in step:
                params = json.dumps(step.get("params", {}), sort_keys=True)
                out.append(f"{i}. `{step['name']}` {params}")
            else:
                out.append(f"{i}. {json.dumps(step, sort_keys=True)}")
        out.append("")
    return out


def merge_card_text(generated_meta: dict[str, Any], generated_body: str, existing: str | None) -> str:
    """Card text combining generated parts with an existing card's user parts.

    YAML keys in :data:`GENERATED_KEYS` come from the manifest (an existing value is kept
    where the manifest has none, e.g. a license set by hand); other keys are kept. In the
    body, the text between the markers is replaced and the rest is kept; a card without
    markers keeps its whole body after the generated block.
    """
    import yaml

    meta: dict[str, Any] = {}
    before, after = "", ""
    if existing:
        front, body = split_front_matter(existing)
        if front:
            loaded = yaml.safe_load(front)
            if isinstance(loaded, dict):
                meta = loaded
        if BEGIN_MARKER in body and END_MARKER in body:
            before = body.split(BEGIN_MARKER, 1)[0]
            after = body.split(END_MARKER, 1)[1]
        else:
            after = body
    before, after = before.strip("\n"), after.strip("\n")
    for k in GENERATED_KEYS:
        if k in generated_meta:
            meta[k] = generated_meta[k]
    front_text = yaml.dump(
        meta, Dumper=_plain_dumper(yaml), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    parts = [f"---\n{front_text}---\n"]
    if before:
        parts.append(before + "\n\n")
    parts.append(f"{BEGIN_MARKER}\n{generated_body}{END_MARKER}\n")
    if after:
        parts.append("\n" + after + "\n")
    return "".join(parts)


def _plain_dumper(yaml: Any) -> Any:
    """``yaml.SafeDumper`` that writes a repeated object out again instead of ``&id001``/``*id001``
    anchors (configs share their feature lists; readers of the card expect plain YAML)."""

    class PlainDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return PlainDumper


def card(
    manifest: Manifest,
    *,
    repo_id: str | None = None,
    existing: str | None = None,
    preview: str | None = None,
    license: str | None = None,
) -> DatasetCard:
    """Build the dataset card of an artifact.

    Args:
        manifest (`Manifest`): the artifact's manifest.
        repo_id (`str`, *optional*): used in the loading examples.
        existing (`str`, *optional*): the text of the card already on the Hub; its user text
            and extra YAML keys are kept (see :func:`merge_card_text`).
        preview (`str`, *optional*): relative path of a preview image to show
            (``"nb-preview.png"``).
        license (`str`, *optional*): the license to state (an SPDX id such as ``"cc-by-4.0"``, or
            a Hub license id); by default the manifest's, else the one of the ``existing`` card,
            else ``"unknown"`` (the card always states one; see :func:`card_license`).

    Returns:
        `huggingface_hub.DatasetCard`: ``str(card)`` is the README text.

    Raises:
        DependencyMissingError: ``huggingface_hub`` or ``pyyaml`` is missing.

    Example:
        >>> from nb_core import FileEntry, Manifest
        >>> m = Manifest(name="eeg-demo", layout="shards", license="cc-by-4.0",
        ...              files=[FileEntry("train-000000.tar", 1_000_000, "0" * 64)])
        >>> c = card(m, repo_id="me/eeg-demo")
        >>> c.data.license, c.data.pretty_name
        ('cc-by-4.0', 'eeg-demo')
        >>> 'nb_hub.open("me/eeg-demo")' in str(c)  # the README text, with how to load it
        True
    """
    from nb_core.validation import soft_import

    hub = soft_import("huggingface_hub", "building a dataset card", extra="nb-hub")
    lic = card_license(manifest, license=license, existing=existing)
    text = merge_card_text(_metadata(manifest, lic), _body(manifest, repo_id, preview, lic), existing)
    return hub.DatasetCard(text)


def card_license(manifest: Manifest, *, license: str | None = None, existing: str | None = None) -> str:
    r"""The license a card states: ``license``, else the manifest's, else the one already in the
    ``existing`` card (set by hand on the Hub), else ``"unknown"``.

    Example:
        >>> from nb_core import Manifest
        >>> card_license(Manifest(name="x", layout="shards"))
        'unknown'
        >>> card_license(Manifest(name="x", layout="shards"), existing="---\nlicense: mit\n---\n")
        'mit'
    """
    if license:
        return license
    if manifest.license:
        return manifest.license
    if existing:
        import yaml

        front, _ = split_front_matter(existing)
        try:
            meta = yaml.safe_load(front) if front else None
        except yaml.YAMLError:
            meta = None
        old = meta.get("license") if isinstance(meta, dict) else None
        if isinstance(old, str) and old.strip():
            return old
    return UNKNOWN_LICENSE
