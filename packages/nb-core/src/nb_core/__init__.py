"""nb-core: the shared schema, manifest, errors and I/O helpers of neurobridge.

Example:
    >>> import nb_core
    >>> m = nb_core.Manifest(name="demo", layout="shards")
    >>> m.schema_version == nb_core.SCHEMA_VERSION
    True
"""

from importlib.metadata import version as _version

from nb_core import errors
from nb_core.atomic import (
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    check_output,
    dumps_json,
)
from nb_core.checksums import HashingWriter, sha256_bytes, sha256_file
from nb_core.errors import NBError
from nb_core.executor import get_executor
from nb_core.gcpause import gc_paused
from nb_core.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    FileEntry,
    Manifest,
    ModalitySpec,
    RecordingEntry,
    find_manifest,
)
from nb_core.progress import progress, progress_enabled
from nb_core.schema import (
    Annotation,
    Channel,
    DigPoint,
    ProcessingStep,
    Provenance,
    Recording,
    Sample,
    Window,
    annotation_spans,
    window_starts,
)
from nb_core.validation import check_index, safe_key

__version__ = _version("nb-core")

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "Annotation",
    "Channel",
    "DigPoint",
    "FileEntry",
    "HashingWriter",
    "Manifest",
    "ModalitySpec",
    "NBError",
    "ProcessingStep",
    "Provenance",
    "Recording",
    "RecordingEntry",
    "Sample",
    "Window",
    "__version__",
    "annotation_spans",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_index",
    "check_output",
    "dumps_json",
    "errors",
    "find_manifest",
    "gc_paused",
    "get_executor",
    "progress",
    "progress_enabled",
    "safe_key",
    "sha256_bytes",
    "sha256_file",
    "window_starts",
]
