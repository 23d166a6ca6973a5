"""An HTTP emulator of the Hugging Face Hub API, for offline tests with the real clients.

:class:`HubEmulator` serves, on ``127.0.0.1`` only, the part of the Hub API that
``huggingface_hub`` (2.x) and ``datasets`` use to create repos, upload (preupload,
Git LFS "basic" transfer, ndjson commits), list (repo info with siblings, tree,
paths-info, refs, commits) and download (``resolve`` with HEAD/GET and Range).
It keeps repositories in memory or under a directory, can require Bearer tokens,
enforces configurable Hub limits, injects faults, and logs every request so that
tests can assert which endpoints a client used.

**Xet is not implemented.** ``huggingface_hub`` uploads through Xet storage whenever
the ``hf_xet`` package is installed, unless ``HF_HUB_DISABLE_XET=1``. The emulator
speaks only the Git LFS *basic* transfer, so Xet must be disabled:
:meth:`HubEmulator.configure_clients` does it for the running process (it sets
``huggingface_hub.constants.HF_HUB_DISABLE_XET``, which the client checks at each
upload), and :meth:`HubEmulator.client_env` gives the environment for subprocesses.

Pointing clients at the emulator:

- ``HfApi(endpoint=emu.endpoint, token=...)``, ``HfFileSystem(endpoint=emu.endpoint)``,
  ``hf_hub_download(..., endpoint=emu.endpoint)``, ``snapshot_download(..., endpoint=...)``:
  pass ``endpoint=`` explicitly.
- ``datasets`` reads ``HF_ENDPOINT`` into ``datasets.config.HF_ENDPOINT`` when it is
  *imported*, and some of its URLs are built with ``huggingface_hub.hf_hub_url`` without
  an endpoint (so from ``huggingface_hub.constants.ENDPOINT``, also read at import).
  Either set ``HF_ENDPOINT`` (and ``HF_HUB_DISABLE_XET=1``) before the first import of
  either library (subprocesses: ``env=emu.client_env()``), or, in the running process,
  use ``with emu.configure_clients(): ...``, which patches those module constants
  (``huggingface_hub.constants.ENDPOINT``/``HUGGINGFACE_CO_URL_TEMPLATE``,
  ``datasets.config.HF_ENDPOINT``/``HUB_DATASETS_URL``) and restores them on exit.
- ``hf://`` URLs through fsspec: ``fsspec.filesystem("hf", endpoint=emu.endpoint)`` or
  ``storage_options={"endpoint": emu.endpoint}``.

Endpoints served (``{type}`` is ``models``, ``datasets`` or ``spaces``; the
``{prefix}`` of URLs outside ``/api`` is ``datasets/``, ``spaces/`` or nothing for models):

====================================================  ============  =====================
route                                                 method        log name
====================================================  ============  =====================
``/api/whoami-v2``                                    GET           ``whoami``
``/api/repos/create``                                 POST          ``create-repo``
``/api/repos/delete``                                 DELETE        ``delete-repo``
``/api/validate-yaml``                                POST          ``validate-yaml``
``/api/{type}/{id}`` and ``.../revision/{rev}``       GET           ``repo-info``
``/api/{type}/{id}/preupload/{rev}``                  POST          ``preupload``
``/api/{type}/{id}/commit/{rev}``                     POST          ``commit``
``/api/{type}/{id}/tree/{rev}[/{path}]``              GET           ``tree``
``/api/{type}/{id}/paths-info/{rev}``                 POST          ``paths-info``
``/api/{type}/{id}/refs``                             GET           ``refs``
``/api/{type}/{id}/commits/{rev}``                    GET           ``commits``
``/api/{type}/{id}/branch/{name}``                    POST, DELETE  ``branch``
``/api/{type}/{id}/settings``                         PUT           ``settings``
``/api/{type}/{id}/tag/{name}``                       POST, DELETE  ``tag``
``/{prefix}{id}.git/info/lfs/objects/batch``          POST          ``lfs-batch``
``/_lfs/{type}/{id}/{oid}?sig=...``                  PUT           ``lfs-upload``
``/_lfs/verify/{type}/{id}/{oid}``                    POST          ``lfs-verify``
``/{prefix}{id}/resolve/{rev}/{path}``                HEAD, GET     ``resolve``
``/{prefix}{id}/commit/{oid}``                        GET           ``commit-page``
====================================================  ============  =====================

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) and ``X-Error-Message`` headers and a JSON ``{"error": ...}`` body,
as the Hub does; a wrong token gets ``401`` with ``X-Error-Message: Invalid credentials
in Authorization header``. Private repos are invisible (``404 RepoNotFound``) to any
other user. With tokens, a user writes only to its own namespace (``alice/...``) and to the
organizations it belongs to (``orgs=``): creating or writing a repo elsewhere gets ``403``,
as on the Hub. ``PUT .../settings`` changes a repo's visibility (``{"visibility": "private"}``
or ``{"private": true}``), as ``HfApi.update_repo_settings`` sends it.

How it is built (each part in its own module of :mod:`nb_hub.testing`): ``store``
(repositories, commits, refs, content-addressed blobs), ``_routing`` (the table above as data:
methods and path pattern -> endpoint), ``_handler`` (route, fault, authenticate, answer, log),
``_repo_endpoints`` and ``_file_endpoints`` (the handlers), ``_commits`` (the ndjson commit,
one step per function, and :class:`HubLimits`), ``_faults`` (:class:`Fault` and the request
log) and ``_http`` (bodies, answers, Hub errors, users). Card metadata is checked by the
production code of :mod:`nb_hub._cardyaml`, and Git blob ids come from :mod:`nb_core.hubspec`.

Example:
    >>> import os; os.environ["HF_HUB_DISABLE_XET"] = "1"
    >>> from huggingface_hub import HfApi
    >>> with HubEmulator() as emu, emu.configure_clients():
    ...     api = HfApi(endpoint=emu.endpoint, token="anything")
    ...     _ = api.create_repo("me/demo", repo_type="dataset")
    ...     _ = api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt",
    ...                         repo_id="me/demo", repo_type="dataset")
    ...     [f.path for f in api.list_repo_tree("me/demo", repo_type="dataset")]
    ['.gitattributes', 'a.txt']
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from nb_hub._cardyaml import (
    SIZE_CATEGORIES,
    TASK_CATEGORIES,
    split_front_matter,
    validate_card_metadata,
)
from nb_hub.testing._commits import HubLimits
from nb_hub.testing._faults import Fault, FaultBoard, RequestRecord
from nb_hub.testing._handler import Handler
from nb_hub.testing._http import URL_PREFIX
from nb_hub.testing.store import LFS_EXTENSIONS, RepoStore

__all__ = [
    "LFS_EXTENSIONS",
    "SIZE_CATEGORIES",
    "TASK_CATEGORIES",
    "Fault",
    "HubEmulator",
    "HubLimits",
    "RequestRecord",
    "split_front_matter",
    "validate_card_metadata",
]


class HubEmulator:
    """An HTTP emulator of the Hugging Face Hub API on ``127.0.0.1`` (see the module doc).

    Use it as a context manager (or :meth:`start`/:meth:`stop`); :attr:`endpoint` is the URL
    to give to clients.

    Args:
        port (`int`, *optional*, defaults to `0`): TCP port; 0 picks a free one.
        storage (`str` or `os.PathLike`, *optional*): keep blobs and repository state under
            this directory (they survive a restart on the same directory); in memory if `None`.
        tokens (`dict[str, str]` or `Iterable[str]`, *optional*): accepted Bearer tokens, as
            ``{token: user}`` (an iterable makes each token its own user name). With tokens,
            any other token gets 401, requests without one are anonymous (public reads only).
            Without tokens every request acts as ``default_user``, who may write anywhere; with
            tokens, a user writes only to its own namespace and to its ``orgs``.
        limits (`HubLimits`, *optional*): repository limits to enforce.
        default_user (`str`, *optional*, defaults to ``"nb-user"``): the user when no tokens
            are configured (the namespace of ``create_repo("name")``).
        orgs (`dict[str, list[str]]`, *optional*): organizations and their members
            (``{"neurobridge": ["alice"]}``): members may write to the organization's repos.

    Attributes:
        requests (`list[RequestRecord]`): every request served, in order.
        validations (`list[dict]`): every ``validate-yaml`` call with its errors/warnings.

    Example:
        >>> with HubEmulator(tokens={"hf_secret": "alice"}) as emu:
        ...     emu.endpoint.startswith("http://127.0.0.1:")
        True
    """

    def __init__(
        self,
        *,
        port: int = 0,
        storage: str | os.PathLike[str] | None = None,
        tokens: Mapping[str, str] | Iterable[str] | None = None,
        limits: HubLimits | None = None,
        default_user: str = "nb-user",
        orgs: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.port = port
        self.store = RepoStore(storage)
        if tokens is None:
            self.tokens: dict[str, str] | None = None
        elif isinstance(tokens, Mapping):
            self.tokens = dict(tokens)
        else:
            self.tokens = {t: t for t in tokens}
        self.limits = limits or HubLimits()
        self.default_user = default_user
        self.orgs: dict[str, set[str]] = {k: set(v) for k, v in (orgs or {}).items()}
        self._requests: list[RequestRecord] = []
        self.validations: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Requests being served: a request is logged after its answer is sent, so readers of the
        # log wait until none is in flight (a client may read the log before the handler logs).
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._faults = FaultBoard(self._lock)
        self.faults: list[Fault] = self._faults.faults
        self._secret = os.urandom(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (available once started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HubEmulator:
        """Start serving in a background thread."""
        if self._server is not None:
            return self
        handler = type("Handler", (Handler,), {"emu": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="nb-hub-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> HubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for ``nb hub emulator``)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    # -- clients ----------------------------------------------------------------------------------
    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess whose clients should talk to the emulator
        (``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET=1``, no telemetry or update checks)."""
        env = dict(os.environ if base is None else base)
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
        )
        return env

    @contextlib.contextmanager
    def configure_clients(self) -> Iterator[HubEmulator]:
        """Point ``huggingface_hub`` and ``datasets`` of this process at the emulator.

        Sets ``HF_ENDPOINT``/``HF_HUB_DISABLE_XET`` in ``os.environ`` and patches the module
        constants that both libraries read at import time (see the module doc); everything
        is restored on exit. Explicit ``endpoint=`` arguments work without this.
        """
        import importlib
        import importlib.util
        import sys

        saved_env = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HUB_DISABLE_XET")}
        patches: list[tuple[Any, str, Any]] = []

        def patch(mod: Any, name: str, value: Any) -> None:
            patches.append((mod, name, getattr(mod, name)))
            setattr(mod, name, value)

        os.environ["HF_ENDPOINT"] = self.endpoint
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        constants = importlib.import_module("huggingface_hub.constants")
        patch(constants, "ENDPOINT", self.endpoint)
        patch(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            self.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        patch(constants, "HF_HUB_DISABLE_XET", True)
        if "datasets" in sys.modules or importlib.util.find_spec("datasets") is not None:
            with contextlib.suppress(ImportError):
                dconfig = importlib.import_module("datasets.config")
                patch(dconfig, "HF_ENDPOINT", self.endpoint)
                patch(
                    dconfig,
                    "HUB_DATASETS_URL",
                    self.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
                )
        try:
            yield self
        finally:
            for mod, name, value in reversed(patches):
                setattr(mod, name, value)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _sign(self, rtype: str, rid: str, oid: str) -> str:
        import hmac

        return hmac.new(self._secret, f"{rtype}/{rid}/{oid}".encode(), "sha256").hexdigest()[:32]

    # -- faults and log ---------------------------------------------------------------------------
    def inject(
        self,
        endpoint: str,
        *,
        kind: str = "error",
        times: int = 1,
        status: int = 500,
        delay: float = 1.0,
        method: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
    ) -> Fault:
        """Make the next ``times`` requests to ``endpoint`` fail (see :class:`Fault`)."""
        return self._faults.add(Fault(endpoint, kind, times, status, delay, method, path_contains, after))

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        self._faults.clear()

    def _begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)
            self._in_flight -= 1
            self._idle.notify_all()

    def _settled(self, timeout: float = 5.0) -> list[RequestRecord]:
        # Caller holds the lock; waits (up to ``timeout``) for requests in flight to be logged.
        self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        return self._requests

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far, in order (waits for requests still being answered)."""
        with self._lock:
            return self._settled()

    def calls(
        self, endpoint: str | None = None, *, method: str | None = None, status: int | None = None
    ) -> list[RequestRecord]:
        """Logged requests, filtered by endpoint log name, method and status."""
        with self._lock:
            return [
                r
                for r in self._settled()
                if (endpoint is None or r.endpoint == endpoint)
                and (method is None or r.method == method)
                and (status is None or r.status == status)
            ]

    def clear_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self._settled().clear()

    # -- direct inspection (no HTTP) --------------------------------------------------------------
    def repo_files(
        self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main"
    ) -> dict[str, bytes]:
        """The files of a revision, read directly from the store (for assertions)."""
        repo = self.store.repos[(repo_type, repo_id)]
        cid = repo.resolve(revision)
        if cid is None:
            raise KeyError(revision)
        return {p: self.store.blobs.get(f.sha256) for p, f in repo.commits[cid].files.items()}

    def commit_count(self, repo_id: str, *, repo_type: str = "dataset", revision: str = "main") -> int:
        """Number of commits in the history of a revision (including the initial commit)."""
        repo = self.store.repos[(repo_type, repo_id)]
        cid = repo.resolve(revision)
        n = 0
        while cid:
            n += 1
            cid = repo.commits[cid].parent
        return n

    def url(self, repo_id: str, path: str = "", *, repo_type: str = "dataset", revision: str = "main") -> str:
        """The ``resolve`` URL of a file."""
        return f"{self.endpoint}/{URL_PREFIX[repo_type]}{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"
