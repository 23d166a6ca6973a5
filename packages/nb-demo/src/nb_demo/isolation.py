"""Keep every cache the demo's libraries write inside the demo's output folder.

``huggingface_hub``, ``datasets``, matplotlib, MNE, nb-bids and nb-shards each keep a cache
(or config) under the user's home by default, torch's compiler one in the temporary folder. :func:`caches_inside` points all of them at
``OUT/caches/`` for the duration of the demo (environment variables, and the module constants of
libraries that read them at import time when those are already imported) and restores
everything afterwards.

Example:
    >>> import os, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with caches_inside(out / "caches") as where:
    ...     os.environ["HF_HOME"] == str(where["HF_HOME"])
    True
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["caches_inside"]

#: environment variable -> sub-folder of the caches folder
_ENV = {
    "HF_HOME": "huggingface",
    "HF_HUB_CACHE": "huggingface/hub",
    "HF_ASSETS_CACHE": "huggingface/assets",
    "HF_XET_CACHE": "huggingface/xet",
    "HF_DATASETS_CACHE": "huggingface/datasets",
    "HF_MODULES_CACHE": "huggingface/modules",
    "MPLCONFIGDIR": "matplotlib",
    "MNE_HOME": "mne",
    "NB_BIDS_CACHE": "nb-bids",
    "NB_SHARDS_CACHE": "nb-shards",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "TRITON_CACHE_DIR": "triton",
    "XDG_CACHE_HOME": "xdg-cache",
    "XDG_CONFIG_HOME": "xdg-config",
}

#: (module, attribute, environment variable) read at import time by libraries
_CONSTANTS = (
    ("huggingface_hub.constants", "HF_HOME", "HF_HOME"),
    ("huggingface_hub.constants", "HF_HUB_CACHE", "HF_HUB_CACHE"),
    ("huggingface_hub.constants", "HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"),
    ("huggingface_hub.constants", "HF_ASSETS_CACHE", "HF_ASSETS_CACHE"),
    ("huggingface_hub.constants", "HF_XET_CACHE", "HF_XET_CACHE"),
    ("huggingface_hub.constants", "HF_TOKEN_PATH", None),
    ("huggingface_hub.constants", "HF_STORED_TOKENS_PATH", None),
    ("datasets.config", "HF_CACHE_HOME", "HF_HOME"),
    ("datasets.config", "HF_DATASETS_CACHE", "HF_DATASETS_CACHE"),
    ("datasets.config", "HF_MODULES_CACHE", "HF_MODULES_CACHE"),
    ("datasets.config", "DOWNLOADED_DATASETS_PATH", None),
    ("datasets.config", "EXTRACTED_DATASETS_PATH", None),
)


def _constant_value(attr: str, env: str | None, where: dict[str, Path], current: Any) -> Any:
    if env is not None:
        return str(where[env]) if isinstance(current, str) else where[env]
    hf = where["HF_HOME"]
    value = {
        "HF_TOKEN_PATH": hf / "token",
        "HF_STORED_TOKENS_PATH": hf / "stored_tokens",
        "DOWNLOADED_DATASETS_PATH": where["HF_DATASETS_CACHE"] / "downloads",
        "EXTRACTED_DATASETS_PATH": where["HF_DATASETS_CACHE"] / "downloads" / "extracted",
    }[attr]
    return str(value) if isinstance(current, str) else value


@contextmanager
def caches_inside(folder: str | os.PathLike[str]) -> Iterator[dict[str, Path]]:
    """Point the libraries' caches at sub-folders of ``folder`` inside the block.

    Yields:
        `dict[str, Path]`: environment variable -> the folder it points at.
    """
    root = Path(folder).resolve()
    where = {k: root / v for k, v in _ENV.items()}
    saved_env = {k: os.environ.get(k) for k in [*where, "MNE_DONTWRITE_HOME"]}
    patched: list[tuple[Any, str, Any]] = []
    for path in where.values():
        path.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: str(v) for k, v in where.items()})
    os.environ["MNE_DONTWRITE_HOME"] = "true"  # MNE keeps its config in ~/.mne otherwise
    for mod_name, attr, env in _CONSTANTS:
        mod = sys.modules.get(mod_name)
        if mod is not None and hasattr(mod, attr):
            current = getattr(mod, attr)
            patched.append((mod, attr, current))
            setattr(mod, attr, _constant_value(attr, env, where, current))
    try:
        yield where
    finally:
        for mod, attr, value in reversed(patched):
            setattr(mod, attr, value)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
