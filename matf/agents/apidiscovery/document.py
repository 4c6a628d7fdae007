"""An API document: where it may be, fetching it, reading it safely, following its ``$ref``s.

The document is untrusted data: it is parsed (``yaml.safe_load``, never a full
loader), capped in size, walked with node and depth budgets, and only its own
``#/...`` references are followed. Nothing in it is evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from matf.agents.apidiscovery.notes import Notes, clip
from matf.browser.api import MISSING, PointerError, resolve_pointer
from matf.browser.steps import origin_of

if TYPE_CHECKING:
    from playwright.sync_api import APIRequestContext

MAX_DOC_BYTES = 5 * 1024 * 1024
MAX_DOC_NODES = 2_000_000  # values in a parsed document (YAML aliases count each time used)
MAX_DOC_DEPTH = 200
MAX_REF_CHAIN = 32
MAX_LINKED = 20

DOC_PATHS: tuple[str, ...] = (
    "/openapi.json",
    "/openapi.yaml",
    "/openapi.yml",
    "/swagger.json",
    "/swagger.yaml",
    "/api/openapi.json",
    "/api/openapi.yaml",
    "/api/swagger.json",
    "/api/docs/openapi.json",
    "/api/v1/openapi.json",
    "/api-docs",
    "/api-docs.json",
    "/v3/api-docs",
    "/v2/api-docs",
    "/swagger/v1/swagger.json",
    "/docs/openapi.json",
)

_DOC_LIKE = re.compile(r"openapi|swagger|api[-_.]?docs?|api[-_.]?spec|apispec", re.I)


class _TooBig(Exception):
    """A document over its node or depth budget."""


# -- finding the document --------------------------------------------------------------


def candidate_doc_urls(
    start_url: str, linked: Iterable[str], described: Iterable[str] = ()
) -> list[str]:
    """Where an API document may be, most likely first; same origin as ``start_url`` only.

    ``described`` are ``<link rel="service-desc">`` targets, taken as they are;
    ``linked`` are other links (anchors), kept when they look like API documents.
    Then the usual ``DOC_PATHS`` on the start URL's origin.
    """
    origin = origin_of(start_url)
    found: list[str] = []

    def add(url: str) -> None:
        url = urldefrag(url.strip())[0]
        if (
            urlsplit(url).scheme in ("http", "https")
            and origin_of(url) == origin
            and url not in found
        ):
            found.append(url)

    for href in list(described)[:MAX_LINKED]:
        add(urljoin(start_url, href))
    kept = 0
    for href in linked:
        url = urljoin(start_url, href.strip())
        if kept < MAX_LINKED and _looks_like_doc(urlsplit(url).path):
            add(url)
            kept += 1
    parts = urlsplit(start_url)
    for path in DOC_PATHS:
        add(f"{parts.scheme}://{parts.netloc}{path}")
    return found


def _looks_like_doc(path: str) -> bool:
    lowered = path.lower()
    if lowered in DOC_PATHS or _DOC_LIKE.search(lowered):
        return True
    return lowered.endswith((".json", ".yaml", ".yml")) and "api" in lowered


def fetch_document(
    request: APIRequestContext, url: str, start_url: str, timeout_ms: float, notes: list[str]
) -> tuple[str, dict[str, Any]] | None:
    """The final URL and parsed document at ``url``, else None; adds to ``notes`` why not.

    ``request`` should be a browser context's (``page.request``), so that a
    guarded run's proxy vets these requests too.
    """
    from playwright.sync_api import Error as PlaywrightError

    try:
        response = request.get(url, timeout=timeout_ms, fail_on_status_code=False, max_redirects=5)
    except PlaywrightError as exc:
        message = (exc.message or str(exc)).strip().splitlines()
        notes.append(f"{url}: {message[0][:200] if message else 'request failed'}")
        return None
    try:
        refused = response.headers.get("x-matf-guard")
        if refused:
            notes.append(f"{url} was not visited: {refused}")
            return None
        if response.status != 200 or origin_of(response.url) != origin_of(start_url):
            return None
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_DOC_BYTES:
            notes.append(f"{url}: the document is over {MAX_DOC_BYTES // 2**20} MB, not read")
            return None
        body = response.body()
        doc_url = response.url
        ctype = response.headers.get("content-type")
    finally:
        response.dispose()
    doc = parse_document(body, ctype)
    return None if doc is None else (doc_url, doc)


# -- reading the document --------------------------------------------------------------


def parse_document(body: bytes, content_type: str | None) -> dict[str, Any] | None:
    """An OpenAPI 3.x / Swagger 2.0 document read from JSON or YAML, else None.

    The result is plain JSON data: YAML's integer keys (``200:``) become strings,
    dates become ISO strings, and anchors are expanded within a node budget.
    """
    if len(body) > MAX_DOC_BYTES:
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not stripped or stripped.startswith("<") or media in ("text/html", "application/xhtml+xml"):
        return None
    data: Any = MISSING
    if "json" in media or stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = MISSING
    if data is MISSING:
        data = _load_yaml(text)
    if not isinstance(data, dict):
        return None
    try:
        doc = _plain(data, 0, [MAX_DOC_NODES])
    except _TooBig:
        return None
    return doc if document_version(doc) is not None else None


def _load_yaml(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe either way: no tags run code
    try:
        return yaml.load(text, Loader=loader)  # a safe loader, see above
    except (yaml.YAMLError, RecursionError, ValueError):
        return MISSING


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    """A JSON-only copy of decoded data, within a node and depth budget."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DOC_DEPTH:
        raise _TooBig
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1, budget) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return None  # bytes (!!binary) and anything else YAML may build


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, dt.date | dt.datetime):
        return key.isoformat()
    return str(key)


def document_version(doc: dict[str, Any]) -> str | None:
    """ "2.0", "3.0" or "3.1" (3.1 and later: schemas are JSON Schema), else None."""
    openapi = doc.get("openapi")
    if isinstance(openapi, str | float) and not isinstance(openapi, bool):
        match = re.match(r"^3\.(\d+)", str(openapi))
        if match:
            return "3.0" if match.group(1) == "0" else "3.1"
    swagger = doc.get("swagger")
    if isinstance(swagger, str | float) and not isinstance(swagger, bool) and str(swagger) == "2.0":
        return "2.0"
    return None


@dataclass
class Document:
    """A parsed document, its version, and the notes on what reading it skipped."""

    data: dict[str, Any]
    version: str
    notes: Notes

    def deref(self, value: Any, what: str) -> Any:
        """Follow ``$ref`` to a document-local object (parameters, responses, examples)."""
        for _ in range(MAX_REF_CHAIN):
            if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
                return value
            ref = value["$ref"]
            target = self.local(ref)
            if target is MISSING:
                self.notes.add(f"{what}: $ref {clip(ref)} not followed (not in this document)")
                return None
            value = target
        self.notes.add(f"{what}: $ref chain too long")
        return None

    def local(self, ref: str) -> Any:
        """What a ``#/json/pointer`` reference names here, or MISSING (external, anchors)."""
        if not ref.startswith("#"):
            return MISSING
        try:
            return resolve_pointer(self.data, unquote(ref[1:]))
        except PointerError:
            return MISSING
