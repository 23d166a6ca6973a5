"""The trained demo model as a Hub model repo: safetensors weights, ``config.json`` and a card.

The card's metadata lists the dataset it was trained on (``datasets:``, which the Hub shows as a
link between the two repos) and its test accuracy; its text links the dataset page.

Example:
    >>> text = model_card_text("me/model", "me/data", {"test_accuracy": [0.5, 0.9], "chance": 0.25,
    ...     "epochs": 2, "train_samples": 10, "test_samples": 5, "resume": {}}, {"n_channels": 4})
    >>> "datasets:\\n- me/data" in text and "[me/data](/datasets/me/data)" in text
    True
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nb_core.atomic import atomic_write_bytes, atomic_write_json
from nb_core.errors import IntegrityError

__all__ = ["model_card_text", "push_model", "write_model_files"]


def model_card_text(repo_id: str, dataset_id: str, train: dict[str, Any], config: dict[str, Any]) -> str:
    """The model card (``README.md``): YAML metadata, then what the model is and how it did."""
    acc = train["test_accuracy"][-1] if train["test_accuracy"] else 0.0
    resume = train.get("resume") or {}
    resumed = (
        f"Training was checkpointed at step {resume['checkpoint_step']} of {resume['steps']} (model and "
        "optimizer as safetensors, loader position as JSON) and resumed into a freshly built model, "
        "optimizer and loader from those files alone; the "
        "resumed run gave the same loss at every step and bit-identical weights.\n\n"
        if resume
        else ""
    )
    return (
        "---\n"
        "license: cc0-1.0\n"
        "library_name: pytorch\n"
        "tags:\n- eeg\n- neurobridge\n- nb-demo\n"
        f"datasets:\n- {dataset_id}\n"
        "metrics:\n- accuracy\n"
        "---\n\n"
        f"# {repo_id.split('/')[-1]}\n\n"
        "A shallow filter-bank network (temporal convolution, batch norm, log band power, linear) "
        "that tells four simulated motor-imagery classes apart from 1 s EEG windows. Made by "
        "`nb demo`; not a model of real brain data.\n\n"
        f"Trained on [{dataset_id}](/datasets/{dataset_id}) (split `train`, "
        f"{train['train_samples']} windows) for {train['epochs']} epochs; evaluated on held-out "
        f"subjects (split `test`, {train['test_samples']} windows).\n\n"
        "| metric | value |\n|---|---|\n"
        f"| test accuracy | {acc:.1%} |\n"
        f"| chance | {train['chance']:.1%} |\n\n"
        f"{resumed}"
        "Files: `model.safetensors` (weights, no pickle), `config.json` (input shape, classes, "
        f"channels: {config.get('n_channels', '?')}).\n"
    )


def write_model_files(
    model_dir: Path, repo_id: str, dataset_id: str, train: dict[str, Any], config: dict[str, Any]
) -> None:
    """Write ``config.json`` and ``README.md`` next to ``model.safetensors`` in ``model_dir``."""
    atomic_write_json(model_dir / "config.json", config)
    atomic_write_bytes(
        model_dir / "README.md", model_card_text(repo_id, dataset_id, train, config).encode("utf-8")
    )


def push_model(model_dir: Path, repo_id: str, *, endpoint: str, token: str, cache_dir: Path) -> str:
    """Upload ``model_dir`` to a model repo and download the weights back to compare bytes.

    Returns:
        `str`: the commit id.

    Raises:
        IntegrityError: the downloaded weights differ from the local file.
    """
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    info = api.upload_folder(
        folder_path=str(model_dir),
        repo_id=repo_id,
        repo_type="model",
        commit_message="nb demo: the trained model",
    )
    got = hf_hub_download(
        repo_id, "model.safetensors", repo_type="model", token=token, endpoint=endpoint, cache_dir=cache_dir
    )
    local = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    if hashlib.sha256(Path(got).read_bytes()).hexdigest() != local:
        raise IntegrityError(f"{repo_id}: model.safetensors downloaded from the Hub differs from {model_dir}")
    return str(info.oid)
