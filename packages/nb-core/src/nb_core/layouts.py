"""The layout registry: every artifact layout declares itself here, through an entry point.

A *layout* is a way of storing an artifact on disk (``hdf5``, ``zarr``, ``parquet``, ``shards``,
the BIDS/Hugging Face layout ``hf`` ...). The manifest names it (``manifest.layout``); everything
that must act on "any artifact" — ``nb_hub.open``, the dataset card's ``configs:`` and preview,
``verify`` — asks the registry instead of listing layouts itself. A package adds a layout by
declaring a :class:`Layout` object in the ``nb.layouts`` entry-point group::

    [project.entry-points."nb.layouts"]
    shards = "nb_shards.registry:SHARDS"

Nothing is imported until a layout is asked for by name, so ``import nb_core`` stays light and
asking for ``shards`` never imports nb-formats. Tests and scripts can also :func:`register` a
layout directly.

Example:
    >>> import numpy as np
    >>> from nb_core.layouts import Layout, HFConfig, register, get_layout
    >>> def open_tiny(path, **kwargs):
    ...     return np.load(f"{path}/x.npy", allow_pickle=False)
    >>> tiny = Layout(
    ...     name="tiny-doc", package="my-package", open=open_tiny,
    ...     hf_configs=lambda m: [HFConfig("default", {"train": "x-*.npy"})],
    ... )
    >>> _ = register(tiny)
    >>> get_layout("tiny-doc").package
    'my-package'
    >>> get_layout("tiny-doc").configs(None)[0].to_dict()
    {'config_name': 'default', 'data_files': [{'split': 'train', 'path': 'x-*.npy'}]}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_core.errors import SchemaError, UnsupportedFormatError, UserError
from nb_core.validation import Fields, check_relpath

if TYPE_CHECKING:
    from nb_core.manifest import Manifest

__all__ = [
    "ENTRY_POINT_GROUP",
    "HFConfig",
    "Layout",
    "available_layouts",
    "check_layout_name",
    "get_layout",
    "manifest_configs",
    "register",
    "section_owners",
]

#: Entry-point group through which packages declare their layouts.
ENTRY_POINT_GROUP = "nb.layouts"

_REGISTRY: dict[str, Layout] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def check_layout_name(name: Any, *, field: str = "layout") -> str:
    """A layout name: lower-case letters, digits, ``_``, ``.``, ``-``, starting with a letter (at
    most 64 characters). Any such name is valid in a manifest; whether a package can read it is
    the registry's business (:func:`get_layout`).

    Example:
        >>> check_layout_name("shards")
        'shards'

    Raises:
        SchemaError: not a string, or not of that form (``field`` is named).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise SchemaError(
            f"must be a layout name (lower-case letters, digits, '_', '.', '-', starting with a letter, "
            f"e.g. 'shards'); got {name!r}",
            field=field,
        )
    return name


@dataclass(frozen=True)
class HFConfig:
    """One ``configs:`` entry of a dataset card: how ``datasets.load_dataset`` reads the artifact.

    Args:
        config_name (`str`): the config's name (``"default"`` is what ``load_dataset(repo)`` picks).
        data_files (`Mapping[str, str | list[str]]`): split name → path glob(s), relative to the
            artifact root.
        features (`list[dict]`, *optional*): the card's ``features`` list (``{"name", "dtype"}``
            entries) when ``datasets`` cannot infer them.
        default (`bool`, *optional*, defaults to `False`): the config ``load_dataset(repo)`` picks
            when there are several.
    """

    config_name: str
    data_files: Mapping[str, str | list[str]]
    features: list[dict[str, Any]] | None = None
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The card-YAML form (``configs:`` list item)."""
        out: dict[str, Any] = {
            "config_name": self.config_name,
            "data_files": [{"split": s, "path": p} for s, p in self.data_files.items()],
        }
        if self.features is not None:
            out["features"] = self.features
        if self.default:
            out["default"] = True
        return out

    @classmethod
    def from_dict(cls, d: Any, path: str = "hf_configs[0]") -> HFConfig:
        """Read (and check) the card-YAML form; errors name the field.

        Raises:
            SchemaError: a missing or mistyped field, a path escaping the artifact.
        """
        f = Fields(d, path)
        name = f.string("config_name")
        files: dict[str, str | list[str]] = {}
        for i, item in enumerate(f.array("data_files", required=True)):
            g = Fields(item, f"{path}.data_files[{i}]")
            split = g.string("split")
            raw = g.any("path")
            paths = [raw] if isinstance(raw, str) else raw
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
                raise SchemaError("must be a path or a list of paths", field=g.sub("path"))
            for j, p in enumerate(paths):
                check_relpath(p, field=f"{g.sub('path')}[{j}]")
            g.done()
            files[split] = raw
        features = f.array("features") or None
        for i, item in enumerate(features or []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "dtype" not in item:
                raise SchemaError("must be a {name, dtype} entry", field=f"{f.sub('features')}[{i}]")
        default = f.boolean("default")
        f.done()
        return cls(name, files, features, default)


def _no_configs(manifest: Manifest | None) -> list[HFConfig]:
    return []


def manifest_configs(manifest: Manifest | None) -> list[HFConfig]:
    """The ``configs:`` a writer stored in ``manifest.extra["hf_configs"]``, checked.

    A layout whose writer records its card configs in the manifest uses this as its
    ``hf_configs``; nb-hub also falls back on it when a layout's package is not installed.

    Example:
        >>> from nb_core.manifest import Manifest
        >>> m = Manifest(name="x", layout="shards", extra={"hf_configs": [
        ...     {"config_name": "default", "data_files": [{"split": "train", "path": "train-*.tar"}]}]})
        >>> manifest_configs(m)[0].data_files
        {'train': 'train-*.tar'}

    Raises:
        SchemaError: a malformed entry (the field is named, ``manifest.extra.hf_configs[0]...``).
    """
    raw = manifest.extra.get("hf_configs") if manifest is not None else None
    if not raw:
        return []
    if not isinstance(raw, list):
        raise SchemaError("must be a list of configs", field="manifest.extra.hf_configs")
    return [HFConfig.from_dict(c, f"manifest.extra.hf_configs[{i}]") for i, c in enumerate(raw)]


@dataclass(frozen=True)
class Layout:
    """What a layout declares about itself.

    Args:
        name (`str`): the ``manifest.layout`` value it handles.
        package (`str`): the distribution that provides it (named in "pip install" hints).
        open (`Callable`): ``open(path, **kwargs)`` → the layout's dataset object, for a local
            artifact directory (or file).
        open_url (`Callable`, *optional*): ``open_url(url, storage_options=..., **kwargs)`` for
            layouts that stream from fsspec URLs (``hf://``, ``s3://``) without a full download.
        section (`Callable`, *optional*): ``section(manifest)`` → the layout's typed manifest
            section, validated (raises :class:`~nb_core.errors.SchemaError` naming the field).
        hf_configs (`Callable`, *optional*): ``hf_configs(manifest)`` → the :class:`HFConfig` list
            of the dataset card (empty when ``datasets`` cannot read the layout).
        preview (`Callable`, *optional*): ``preview(path, manifest)`` → ``{modality: array}`` of one
            sample, for the card's preview image.
        verify (`Callable`, *optional*): ``verify(path, manifest)``: layout-specific checks beyond
            the manifest's checksums (raises an :class:`~nb_core.errors.IntegrityError`).
        description (`str`, *optional*): one line for listings.
        section_name (`str`, *optional*): the key of the layout's own section in the manifest's
            ``extra`` (``"nb_shards"``); a manifest of another layout that carries this section
            is refused by :meth:`~nb_core.manifest.Manifest.check_consistency`. Several layouts
            may share one section (``hdf5``, ``zarr`` and ``parquet`` share ``"nb_formats"``).
        card_tags (`tuple[str, ...]`, *optional*): tags the dataset card adds (``"webdataset"``).
        card_text (`str`, *optional*): a paragraph (Markdown) for the card's "How to load" section.
    """

    name: str
    package: str
    open: Callable[..., Any]
    open_url: Callable[..., Any] | None = None
    section: Callable[[Manifest], Any] | None = None
    hf_configs: Callable[[Manifest], list[HFConfig]] = field(default=_no_configs)
    preview: Callable[[Path, Manifest], dict[str, Any]] | None = None
    verify: Callable[[Path, Manifest], None] | None = None
    description: str = ""
    section_name: str | None = None
    card_tags: tuple[str, ...] = ()
    card_text: str = ""

    def configs(self, manifest: Manifest | None) -> list[HFConfig]:
        """The card ``configs:`` of an artifact of this layout."""
        return list(self.hf_configs(manifest))  # type: ignore[arg-type]


def register(layout: Layout, *, replace: bool = False) -> Layout:
    """Add a layout to the registry of this process (entry points do this for installed packages).

    Raises:
        UserError: a different layout of that name is registered and ``replace`` is false.
    """
    if not isinstance(layout, Layout):
        raise UserError(f"register() takes a nb_core.layouts.Layout, not {type(layout).__name__}")
    try:
        check_layout_name(layout.name, field="Layout.name")
    except SchemaError as err:
        raise UserError(str(err)) from None
    old = _REGISTRY.get(layout.name)
    if old is not None and old is not layout and not replace:
        raise UserError(
            f"layout {layout.name!r} is already registered by {old.package}; pass replace=True to override"
        )
    _REGISTRY[layout.name] = layout
    return layout


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(name: str, ep: Any) -> Layout:
    try:
        obj = ep.load()
    except (ImportError, AttributeError) as err:  # no such module, or no such object in it
        raise UnsupportedFormatError(
            f"layout {name!r} is declared by {ep.value!r} but cannot be imported ({err}); "
            "reinstall the package that provides it"
        ) from err
    if not isinstance(obj, Layout) or obj.name != name:
        raise UnsupportedFormatError(
            f"entry point {ep.value!r} of group {ENTRY_POINT_GROUP!r} must give a Layout named {name!r}"
        )
    return obj


def get_layout(name: str) -> Layout:
    """The registered layout called ``name`` (loaded from its entry point on first use).

    Raises:
        UnsupportedFormatError: no installed package provides that layout; the message names the
            layouts that are installed and the usual package for the known ones.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _entry_points().get(name)
    if ep is None:
        have = ", ".join(sorted(available_layouts())) or "none"
        hint = _KNOWN.get(name)
        fix = f"; install it: pip install {hint}" if hint else ""
        raise UnsupportedFormatError(f"no installed package reads layout {name!r} (installed: {have}){fix}")
    return register(_load(name, ep), replace=True)


def available_layouts() -> list[str]:
    """Names of every layout registered or declared by an installed package (nothing is imported)."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def section_owners() -> dict[str, list[str]]:
    """``extra`` section name → the layouts that declare it (:attr:`Layout.section_name`).

    Every declared layout is loaded (this imports the packages that provide them); one whose
    entry point is broken is left out here (asking for it by name reports the problem).

    Example:
        >>> owners = section_owners()
        >>> all(isinstance(v, list) for v in owners.values())
        True
    """
    out: dict[str, list[str]] = {}
    for name in available_layouts():
        try:
            layout = get_layout(name)
        except UnsupportedFormatError:
            continue
        if layout.section_name:
            out.setdefault(layout.section_name, []).append(name)
    return out


#: The package that usually provides each of the workspace's layouts, for install hints only.
_KNOWN = {
    "hdf5": "nb-formats",
    "zarr": "nb-formats",
    "parquet": "nb-formats",
    "shards": "nb-shards",
    "hf": "nb-bids",
}
