"""``HubMixin``: give a dataset class ``push_to_hub`` / ``from_pretrained`` with one base class.

In the style of ``huggingface_hub.ModelHubMixin``: a class that can write itself as a
neurobridge artifact (a directory with ``nb-manifest.json``) and read itself back gains
Hub support by inheriting :class:`HubMixin` and implementing two methods:

- ``_save_artifact(self, path: Path) -> None`` writes the artifact into ``path``
  (an empty directory; the manifest last, as every nb writer does);
- ``_from_artifact(cls, path: Path, **kwargs) -> Self`` builds an instance from it.

Example:
    >>> import numpy as np
    >>> from nb_core import Manifest
    >>> class Arrays(HubMixin):
    ...     def __init__(self, x): self.x = x
    ...     def _save_artifact(self, path):
    ...         np.save(path / "x.npy", self.x)
    ...         m = Manifest(name="arrays", layout="hf"); m.add_file(path, "x.npy"); m.write(path)
    ...     @classmethod
    ...     def _from_artifact(cls, path, **kw):
    ...         return cls(np.load(path / "x.npy", allow_pickle=False))
    >>> # Arrays(np.arange(3)).push_to_hub("me/arrays"); Arrays.from_pretrained("me/arrays").x
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from nb_core.errors import OutputExistsError

__all__ = ["HubMixin"]

T = TypeVar("T", bound="HubMixin")


class HubMixin:
    """Mixin adding :meth:`save_pretrained`, :meth:`push_to_hub` and :meth:`from_pretrained`.

    Example:
        >>> import json, tempfile
        >>> from nb_core import Manifest
        >>> from nb_hub import HubMixin
        >>> class Vocabulary(HubMixin):
        ...     def __init__(self, words):
        ...         self.words = words
        ...     def _save_artifact(self, path):  # write the files and, last, the manifest
        ...         (path / "words.json").write_text(json.dumps(self.words))
        ...         m = Manifest(name="vocabulary", layout="vocabulary")
        ...         m.add_file(path, "words.json")
        ...         m.write(path)
        ...     @classmethod
        ...     def _from_artifact(cls, path, **kwargs):
        ...         return cls(json.loads((path / "words.json").read_text()))
        >>> out = Vocabulary(["alpha", "beta"]).save_pretrained(tempfile.mkdtemp() + "/vocab")
        >>> Vocabulary.from_pretrained(out).words  # a local folder, or a Hub repo id (pulled, verified)
        ['alpha', 'beta']
    """

    def _save_artifact(self, path: Path) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must implement _save_artifact(path) to use HubMixin"
        )

    @classmethod
    def _from_artifact(cls: type[T], path: Path, **kwargs: Any) -> T:
        raise NotImplementedError(
            f"{cls.__name__} must implement _from_artifact(path, **kwargs) to use HubMixin"
        )

    def save_pretrained(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the artifact to a local directory (atomically: complete or absent).

        Raises:
            OutputExistsError: ``path`` exists and ``overwrite`` is `False`.
        """
        from nb_core.atomic import atomic_path

        out = Path(path)
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{out} already exists; pass overwrite=True to replace it")
        with atomic_path(out, overwrite=overwrite) as tmp:
            tmp.mkdir(parents=True)
            self._save_artifact(tmp)
        return out

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Write the artifact to a temporary directory and :func:`nb_hub.push` it.

        Args:
            repo_id (`str`): dataset repository.
            **kwargs: options of :func:`nb_hub.push` (``private=``, ``token=``, ``revision=``...).

        Returns:
            `str`: the commit URL.
        """
        from nb_hub.push import push

        with tempfile.TemporaryDirectory(prefix="nb-hub-mixin-") as tmp:
            path = Path(tmp) / "artifact"
            path.mkdir()
            self._save_artifact(path)
            return push(path, repo_id, **kwargs)

    @classmethod
    def from_pretrained(
        cls: type[T],
        repo_id_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        token: str | None = None,
        endpoint: str | None = None,
        local_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> T:
        """Load from a local artifact directory or from a Hub repo (pulled and verified).

        Args:
            repo_id_or_path: a local directory with ``nb-manifest.json``, or a repo id.
            revision, token, endpoint, local_dir: as for :func:`nb_hub.pull`.
            **kwargs: passed to ``_from_artifact``.
        """
        p = Path(repo_id_or_path)
        if p.is_dir():
            from nb_core.manifest import Manifest

            Manifest.read(p).verify(p)
            return cls._from_artifact(p, **kwargs)
        from nb_hub.pull import pull

        root = pull(
            str(repo_id_or_path), revision=revision, token=token, endpoint=endpoint, local_dir=local_dir
        )
        return cls._from_artifact(root, **kwargs)
