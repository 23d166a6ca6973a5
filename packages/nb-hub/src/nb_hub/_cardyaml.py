r"""Dataset-card YAML: the front matter split, the Hub's size and task categories, and the checks the
Hub applies to card metadata (also used by the emulator's ``/api/validate-yaml``).

Example:
    >>> split_front_matter("---\nlicense: mit\n---\n# Title\n")
    ('license: mit\n', '# Title\n')
    >>> size_category(12_345)
    '10K<n<100K'
    >>> errors, warnings = validate_card_metadata("---\nsize_categories: [huge]\n---\n")
    >>> errors[0][:41]
    '"size_categories" value \'huge\' is not one'
"""

from __future__ import annotations

from typing import Any

from nb_core.hubspec import SIZE_CATEGORIES, size_category

__all__ = [
    "SIZE_CATEGORIES",
    "TASK_CATEGORIES",
    "size_category",
    "split_front_matter",
    "validate_card_metadata",
]

#: The Hub's ``task_categories`` values.
TASK_CATEGORIES = (
    "text-classification",
    "token-classification",
    "table-question-answering",
    "question-answering",
    "zero-shot-classification",
    "translation",
    "summarization",
    "feature-extraction",
    "text-generation",
    "fill-mask",
    "sentence-similarity",
    "text-to-speech",
    "text-to-audio",
    "automatic-speech-recognition",
    "audio-to-audio",
    "audio-classification",
    "audio-text-to-text",
    "voice-activity-detection",
    "depth-estimation",
    "image-classification",
    "object-detection",
    "image-segmentation",
    "text-to-image",
    "image-to-text",
    "image-to-image",
    "image-to-video",
    "unconditional-image-generation",
    "video-classification",
    "reinforcement-learning",
    "robotics",
    "tabular-classification",
    "tabular-regression",
    "tabular-to-text",
    "table-to-text",
    "multiple-choice",
    "text-ranking",
    "text-retrieval",
    "time-series-forecasting",
    "text-to-video",
    "image-text-to-text",
    "visual-question-answering",
    "document-question-answering",
    "zero-shot-image-classification",
    "graph-ml",
    "mask-generation",
    "zero-shot-object-detection",
    "text-to-3d",
    "image-to-3d",
    "image-feature-extraction",
    "video-text-to-text",
    "keypoint-detection",
    "visual-document-retrieval",
    "any-to-any",
    "video-to-video",
    "other",
)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))


def split_front_matter(text: str) -> tuple[str | None, str]:
    """Split a card into its YAML front matter (or `None`) and body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None, text


#: Card fields that hold a string or a list of strings.
_STR_LIST_FIELDS = (
    "license",
    "tags",
    "language",
    "task_categories",
    "task_ids",
    "annotations_creators",
    "language_creators",
    "multilinguality",
    "source_datasets",
    "size_categories",
)


def validate_card_metadata(content: str, repo_type: str = "dataset") -> tuple[list[str], list[str]]:
    r"""Validate a repo card's YAML metadata the way the emulator's ``/api/validate-yaml`` does.

    Checks that the front matter is a YAML mapping, that list fields hold strings,
    ``size_categories`` and ``task_categories`` use the Hub's values, and that ``configs``
    are well formed (unique ``config_name``, ``data_files`` as a pattern, a list of patterns,
    or a list of ``{split, path}``).

    Returns:
        `(errors, warnings)`: lists of messages (no errors: the Hub would accept it).

    Example:
        >>> errors, warnings = validate_card_metadata("---\ntask_categories: [cooking]\n---\n")
        >>> len(errors), warnings
        (1, [])
    """
    import yaml

    front, _ = split_front_matter(content)
    if front is None or not front.strip():
        return [], ["Empty or missing yaml metadata in repo card"]
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as err:
        return [f"YAML metadata is not valid YAML: {err}"], []
    if not isinstance(meta, dict):
        return ["YAML metadata must be a mapping"], []
    errors = _field_type_errors(meta)
    errors += _value_errors(meta.get("size_categories"), SIZE_CATEGORIES, "size_categories")
    errors += _value_errors(meta.get("task_categories"), TASK_CATEGORIES, "task_categories")
    configs = meta.get("configs")
    if configs is not None and repo_type == "dataset":
        errors += _configs_errors(configs)
    return errors, []


def _field_type_errors(meta: dict[Any, Any]) -> list[str]:
    """Fields that must be strings (or lists of strings) but are not."""
    errors = [
        f'"{key}" must be a string or a list of strings'
        for key in _STR_LIST_FIELDS
        if key in meta and meta[key] is not None and not _is_str_list(meta[key])
    ]
    if "pretty_name" in meta and not isinstance(meta["pretty_name"], str):
        errors.append('"pretty_name" must be a string')
    return errors


def _value_errors(values: Any, allowed: tuple[str, ...], key: str) -> list[str]:
    """Values of a categories field that are not among the Hub's ``allowed`` ones."""
    items = [values] if isinstance(values, str) else values if isinstance(values, list) else []
    if key == "size_categories":
        return [f'"{key}" value {s!r} is not one of {", ".join(allowed)}' for s in items if s not in allowed]
    return [f'"{key}" value {t!r} is not a Hub task' for t in items if t not in allowed]


def _configs_errors(configs: Any) -> list[str]:
    """What is wrong with a dataset card's ``configs`` list."""
    if not isinstance(configs, list):
        return ['"configs" must be a list']
    errors: list[str] = []
    names: set[str] = set()
    for i, c in enumerate(configs):
        where = f"configs[{i}]"
        if not isinstance(c, dict):
            errors.append(f"{where} must be a mapping")
            continue
        name = c.get("config_name")
        if not isinstance(name, str) or not name:
            errors.append(f'{where}: "config_name" must be a non-empty string')
        elif name in names:
            errors.append(f'{where}: "config_name" {name!r} is used twice')
        else:
            names.add(name)
        errors += _data_files_errors(c, where)
    return errors


def _data_files_errors(config: dict[Any, Any], where: str) -> list[str]:
    """What is wrong with the ``data_files`` (or ``data_dir``) of one config."""
    df = config.get("data_files")
    if df is None:
        return [] if "data_dir" in config else [f'{where}: "data_files" or "data_dir" is required']
    if _is_str_list(df):
        return []
    if not isinstance(df, list):
        return [f'{where}: "data_files" must be a string, a list, or a list of mappings']
    return [
        f"{where}.data_files[{j}] must be a pattern or a mapping with "
        '"split" (string) and "path" (string or list of strings)'
        for j, item in enumerate(df)
        if not (
            isinstance(item, dict) and isinstance(item.get("split"), str) and _is_str_list(item.get("path"))
        )
    ]
