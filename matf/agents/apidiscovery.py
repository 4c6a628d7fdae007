"""Find a site's API: its OpenAPI / Swagger document, and the calls its pages make.

A published document (OpenAPI 3.x or Swagger 2.0, JSON or YAML) gives each safe
operation (GET, HEAD) a check: the URL with its parameters filled from the
document's examples, the documented success status and media type, and the
success body's schema turned into a self-contained JSON Schema (draft 2020-12).
Calls seen while exploring that no document covers get a looser check.

The document is untrusted data: it is parsed (``yaml.safe_load``, never a full
loader), capped in size, walked with node and depth budgets, and only its own
``#/...`` references are followed. Nothing in it is evaluated. Generated checks
never change data: unsafe methods are skipped, with a note saying so.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urldefrag, urlencode, urljoin, urlsplit

from matf.browser.api import MISSING, PointerError, resolve_pointer
from matf.browser.steps import origin_of

if TYPE_CHECKING:
    from playwright.sync_api import APIRequestContext

MAX_DOC_BYTES = 5 * 1024 * 1024
MAX_OPERATIONS = 100
MAX_DOC_NODES = 2_000_000  # values in a parsed document (YAML aliases count each time used)
MAX_DOC_DEPTH = 200
MAX_SCHEMA_NODES = 50_000  # values in one inlined schema
MAX_SCHEMA_DEPTH = 64
MAX_REF_CHAIN = 32
MAX_NOTES = 200
MAX_LINKED = 20
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

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

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace", "query")
_SAFE = ("get", "head")
_DOC_LIKE = re.compile(r"openapi|swagger|api[-_.]?docs?|api[-_.]?spec|apispec", re.I)
_SECRET_PARAM = re.compile(
    r"token|secret|passw|pwd|api[-_]?key|^key$|auth|session|^sig$|signature|credential", re.I
)
_TEMPLATE_VAR = re.compile(r"\{([^{}/]+)\}")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")

# JSON Schema keywords whose values are schemas (a map of, a list of, or one).
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "additionalItems",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
# OpenAPI 3.0 / Swagger 2.0 schema keywords that are not JSON Schema (or only annotate).
_OAS_ONLY = frozenset({"example", "xml", "discriminator", "externalDocs", "nullable"})


@dataclass(frozen=True)
class ApiOperation:
    """One request a check can send, and what a healthy answer looks like."""

    method: str  # upper case
    url: str  # absolute, path parameters filled
    expect_status: int | str  # e.g. 200, or "2xx" when undocumented
    content_type: str | None  # e.g. "application/json"
    json_schema: dict[str, Any] | None = field(hash=False)  # JSON Schema 2020-12 of the body
    source: str  # "openapi" or "observed"
    summary: str  # e.g. "GET /api/products (listProducts)"
    template: str = ""  # the URL path template, e.g. "/api/products/{id}"


@dataclass
class Discovery:
    """What ``discover_documented`` found: the document, its operations, notes."""

    document_url: str | None
    operations: list[ApiOperation]
    notes: list[str]


class _TooBig(Exception):
    """A document or schema over its size or depth budget."""


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
    return doc if _version(doc) is not None else None


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


def _version(doc: dict[str, Any]) -> str | None:
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


def discover_documented(
    request: APIRequestContext,
    start_url: str,
    linked: Iterable[str],
    timeout_ms: float,
    max_ops: int = MAX_OPERATIONS,
    described: Iterable[str] = (),
) -> Discovery:
    """Fetch the candidate documents in order; the first that parses gives the operations.

    ``request`` should be a browser context's (``page.request``), so that a
    guarded run's proxy vets these requests too.
    """
    from playwright.sync_api import Error as PlaywrightError

    notes: list[str] = []
    for url in candidate_doc_urls(start_url, linked, described):
        try:
            response = request.get(
                url, timeout=timeout_ms, fail_on_status_code=False, max_redirects=5
            )
        except PlaywrightError as exc:
            message = (exc.message or str(exc)).strip().splitlines()
            notes.append(f"{url}: {message[0][:200] if message else 'request failed'}")
            continue
        try:
            refused = response.headers.get("x-matf-guard")
            if refused:
                notes.append(f"{url} was not visited: {refused}")
                continue
            if response.status != 200 or origin_of(response.url) != origin_of(start_url):
                continue
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_DOC_BYTES:
                notes.append(f"{url}: the document is over {MAX_DOC_BYTES // 2**20} MB, not read")
                continue
            body = response.body()
            doc_url = response.url
            ctype = response.headers.get("content-type")
        finally:
            response.dispose()
        doc = parse_document(body, ctype)
        if doc is None:
            continue
        operations, more = operations_from_document(doc, doc_url, start_url, max_ops)
        return Discovery(doc_url, operations, notes + more)
    notes.append("no OpenAPI or Swagger document found")
    return Discovery(None, [], notes)


# -- operations from a document --------------------------------------------------------


class _Notes:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0

    def add(self, line: str) -> None:
        if line in self.lines:
            return
        if len(self.lines) < MAX_NOTES:
            self.lines.append(line)
        else:
            self.dropped += 1

    def result(self) -> list[str]:
        more = [f"… and {self.dropped} more notes"] if self.dropped else []
        return self.lines + more


@dataclass
class _Doc:
    data: dict[str, Any]
    version: str
    notes: _Notes

    def deref(self, value: Any, what: str) -> Any:
        """Follow ``$ref`` to a document-local object (parameters, responses, examples)."""
        for _ in range(MAX_REF_CHAIN):
            if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
                return value
            ref = value["$ref"]
            target = self.local(ref)
            if target is MISSING:
                self.notes.add(f"{what}: $ref {_clip(ref)} not followed (not in this document)")
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


def operations_from_document(
    doc: dict[str, Any], doc_url: str, start_url: str, max_ops: int = MAX_OPERATIONS
) -> tuple[list[ApiOperation], list[str]]:
    """The safe operations of ``doc`` on the target's origin, and notes on what was skipped."""
    notes = _Notes()
    version = _version(doc)
    if version is None:
        return [], ["not an OpenAPI 3.x or Swagger 2.0 document"]
    ctx = _Doc(doc, version, notes)
    target = origin_of(start_url)
    limit = max(0, min(max_ops, MAX_OPERATIONS))
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        notes.add("the document lists no paths")
        return [], notes.result()
    doc_base = _swagger_base(doc, doc_url) if version == "2.0" else None
    operations: list[ApiOperation] = []
    over = 0
    for template, raw_item in paths.items():
        if not isinstance(template, str) or not template.startswith("/"):
            notes.add(f"skipped path {_clip(str(template))!r}: a path must start with '/'")
            continue
        item = ctx.deref(raw_item, f"path {_clip(template)}")
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            label = f"{method.upper()} {_clip(template)}"
            if method not in _SAFE:
                why = (
                    "only GET and HEAD are checked"
                    if method in ("options", "trace")
                    else "generated checks never change data"
                )
                notes.add(f"skipped {label}: {why}")
                continue
            if len(operations) >= limit:
                over += 1
                continue
            if version == "2.0":
                base = doc_base
            else:
                base = _server_base(ctx, [op, item, doc], doc_url, label)
            if base is None:
                continue
            if origin_of(base) != target:
                notes.add(f"skipped {label}: its server {_origin_text(base)} is not the target's")
                continue
            built = _operation(ctx, method, template, item, op, base, label)
            if built is not None:
                operations.append(built)
    if over:
        notes.add(f"stopped at {limit} operations: {over} more safe operations not checked")
    return operations, notes.result()


def _origin_text(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _clip(text: str, limit: int = 120) -> str:
    text = _UNPRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_base(ctx: _Doc, owners: list[dict[str, Any]], doc_url: str, label: str) -> str | None:
    """The base URL of an operation (3.x): the nearest ``servers[0]``, else the document's."""
    for owner in owners:
        servers = owner.get("servers")
        if isinstance(servers, list) and servers:
            server = servers[0]
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                ctx.notes.add(f"skipped {label}: its server has no URL")
                return None
            url = server["url"]
            variables = server.get("variables")
            if not isinstance(variables, dict):
                variables = {}

            def fill(match: re.Match[str], variables: dict[str, Any] = variables) -> str:
                var = variables.get(match.group(1))
                default = var.get("default") if isinstance(var, dict) else None
                return str(default) if isinstance(default, str | int | float) else match.group(0)

            url = _TEMPLATE_VAR.sub(fill, url)
            if _TEMPLATE_VAR.search(url):
                ctx.notes.add(f"skipped {label}: server URL {_clip(url)} has an unknown variable")
                return None
            base = urljoin(doc_url, url)
            if urlsplit(base).scheme not in ("http", "https"):
                ctx.notes.add(f"skipped {label}: server URL {_clip(base)} is not http(s)")
                return None
            return base
    return urljoin(doc_url, "/")


def _swagger_base(doc: dict[str, Any], doc_url: str) -> str:
    """The base URL of a Swagger 2.0 document: ``schemes`` + ``host`` + ``basePath``."""
    parts = urlsplit(doc_url)
    host = doc.get("host") if isinstance(doc.get("host"), str) and doc.get("host") else parts.netloc
    base_path = doc.get("basePath") if isinstance(doc.get("basePath"), str) else "/"
    schemes = [s for s in doc.get("schemes") or [] if s in ("http", "https")]
    if not schemes or parts.scheme in schemes:
        scheme = parts.scheme
    else:
        scheme = "https" if "https" in schemes else schemes[0]
    return f"{scheme}://{host}/{str(base_path).lstrip('/')}"


def _operation(
    ctx: _Doc,
    method: str,
    template: str,
    item: dict[str, Any],
    op: dict[str, Any],
    base: str,
    label: str,
) -> ApiOperation | None:
    security = op.get("security", ctx.data.get("security"))
    if (
        isinstance(security, list)
        and security
        and not any(isinstance(req, dict) and not req for req in security)
    ):
        names = sorted({str(k) for req in security if isinstance(req, dict) for k in req})
        ctx.notes.add(f"skipped {label}: it needs authentication ({', '.join(names) or '?'})")
        return None
    filled = _fill_parameters(ctx, template, item, op, label)
    if filled is None:
        return None
    path, query = filled
    base_path = urlsplit(base).path.rstrip("/")
    url = base.rstrip("/") + path + (f"?{query}" if query else "")
    full_template = base_path + template
    expected = _expected_status(op.get("responses"))
    if expected is None:
        ctx.notes.add(f"skipped {label}: no success response documented")
        return None
    status, response_key = expected
    response = ctx.deref(op["responses"][response_key], f"{label} response")
    content_type, schema_source = _success_body(ctx, op, response)
    schema: dict[str, Any] | None = None
    if schema_source is not None and method == "get":
        schema = _json_schema(ctx, schema_source, label)
    op_id = op.get("operationId")
    summary = f"{method.upper()} {_clip(full_template)}"
    if isinstance(op_id, str) and op_id.strip():
        summary += f" ({_clip(op_id.strip(), 80)})"
    return ApiOperation(
        method=method.upper(),
        url=url,
        expect_status=status,
        content_type=content_type,
        json_schema=schema,
        source="openapi",
        summary=summary,
        template=full_template,
    )


def _fill_parameters(
    ctx: _Doc, template: str, item: dict[str, Any], op: dict[str, Any], label: str
) -> tuple[str, str] | None:
    """The path with its parameters filled and the query of the required ones, or None."""
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (item.get("parameters"), op.get("parameters")):
        if not isinstance(source, list):
            continue
        for raw in source:
            param = ctx.deref(raw, f"{label} parameter")
            if (
                isinstance(param, dict)
                and isinstance(param.get("name"), str)
                and isinstance(param.get("in"), str)
            ):
                params[(param["in"], param["name"])] = param  # the operation's win
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    for (where, name), param in params.items():
        if where != "path" and param.get("required") is not True:
            continue
        shown = f"required {where} parameter {_clip(name, 60)!r}"
        if where not in ("path", "query"):
            ctx.notes.add(f"skipped {label}: it needs a {shown}")
            return None
        value = _example_value(ctx, param)
        if value is MISSING:
            ctx.notes.add(f"skipped {label}: no example, default or enum for {shown}")
            return None
        texts = _texts(value)
        if texts is None:
            ctx.notes.add(f"skipped {label}: the example of {shown} is not a plain value")
            return None
        if where == "path":
            path_values[name] = ",".join(quote(t, safe="") for t in texts)
        elif _explode(ctx, param):
            query += [(name, t) for t in texts]
        else:
            query.append((name, _joiner(param).join(texts)))
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in path_values:
            return path_values[name]
        missing.append(name)
        return match.group(0)

    path = _TEMPLATE_VAR.sub(fill, template)
    if missing:
        ctx.notes.add(
            f"skipped {label}: path parameter {{{_clip(missing[0], 60)}}} is undocumented"
        )
        return None
    return path, urlencode(query, quote_via=quote)


def _explode(ctx: _Doc, param: dict[str, Any]) -> bool:
    if ctx.version == "2.0":
        return param.get("collectionFormat") == "multi"
    explode = param.get("explode")
    return explode if isinstance(explode, bool) else param.get("style", "form") == "form"


def _joiner(param: dict[str, Any]) -> str:
    return {"ssv": " ", "tsv": "\t", "pipes": "|", "spaceDelimited": " ", "pipeDelimited": "|"}.get(
        str(param.get("collectionFormat") or param.get("style")), ","
    )


def _example_value(ctx: _Doc, param: dict[str, Any]) -> Any:
    """A parameter's value: example, examples, its schema's example, default, enum[0]."""
    sources: list[Any] = [param]
    content = param.get("content")
    if isinstance(content, dict):
        sources += [m for m in content.values() if isinstance(m, dict)][:1]
    for source in sources:
        found = _examples_of(ctx, source)
        if found is not MISSING:
            return found
    if ctx.version == "2.0":
        schemas: list[Any] = [param, param.get("schema")]
    else:
        schemas = [param.get("schema")] + [s.get("schema") for s in sources[1:]]
    for raw in schemas:
        schema = ctx.deref(raw, "parameter schema")
        if not isinstance(schema, dict):
            continue
        if schema.get("example") is not None:
            return schema["example"]
        listed = schema.get("examples")
        if isinstance(listed, list) and listed and listed[0] is not None:
            return listed[0]
        if schema.get("default") is not None:
            return schema["default"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and enum[0] is not None:
            return enum[0]
    return MISSING


def _examples_of(ctx: _Doc, source: dict[str, Any]) -> Any:
    for key in ("example", "x-example"):
        if source.get(key) is not None:
            return source[key]
    examples = source.get("examples")
    if isinstance(examples, dict):
        for raw in examples.values():
            example = ctx.deref(raw, "example")
            if isinstance(example, dict) and example.get("value") is not None:
                return example["value"]
    return MISSING


def _texts(value: Any) -> list[str] | None:
    """A parameter value as the strings a URL carries, or None for objects."""
    values = value if isinstance(value, list) else [value]
    texts: list[str] = []
    for item in values:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            texts.append(str(item))
        else:
            return None
    return texts or None


def _expected_status(responses: Any) -> tuple[int | str, str] | None:
    """The lowest documented 2xx as an int, else "2xx" for 2XX/default; and its key."""
    if not isinstance(responses, dict):
        return None
    codes = sorted(int(k) for k in map(str, responses) if re.fullmatch(r"2\d\d", k))
    if codes:
        key = next(k for k in responses if str(k) == str(codes[0]))
        return codes[0], key
    for key in responses:
        if str(key).upper() == "2XX":
            return "2xx", key
    if "default" in responses:
        return "2xx", "default"
    return None


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith(("+json", "/json"))


def _pick_media(types: list[str]) -> str | None:
    bases = [t.split(";", 1)[0].strip().lower() for t in types if isinstance(t, str)]
    for wanted in (lambda m: m == "application/json", _is_json, lambda m: True):
        for index, media in enumerate(bases):
            if wanted(media):
                return types[index]
    return None


def _content_type(media: str | None) -> str | None:
    """The prefix a check expects: "application/json"; "*/*" expects nothing."""
    if media is None:
        return None
    base = media.split(";", 1)[0].strip().lower()
    if base.startswith("*"):
        return None
    return base.split("*", 1)[0] or None


def _success_body(ctx: _Doc, op: dict[str, Any], response: Any) -> tuple[str | None, Any]:
    """(content type, schema source) of a success response."""
    if not isinstance(response, dict):
        return None, None
    if ctx.version == "2.0":
        produces = op.get("produces", ctx.data.get("produces"))
        media = _pick_media(produces) if isinstance(produces, list) else None
        base = (media or "").split(";", 1)[0].strip().lower()
        json_like = media is None or _is_json(base)
        return _content_type(media), response.get("schema") if json_like else None
    content = response.get("content")
    if not isinstance(content, dict) or not content:
        return None, None
    media = _pick_media(list(content))
    if media is None:
        return None, None
    body = content[media]
    base = media.split(";", 1)[0].strip().lower()
    source = body.get("schema") if isinstance(body, dict) and _is_json(base) else None
    return _content_type(media), source


# -- schemas ---------------------------------------------------------------------------


def _json_schema(ctx: _Doc, source: Any, label: str) -> dict[str, Any] | None:
    """A self-contained JSON Schema (2020-12) for a documented body schema, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    converter = _Converter(ctx, label)
    try:
        converted = converter.schema(source, 0, ())
    except _TooBig:
        ctx.notes.add(f"{label}: the response schema is too large to inline; body not checked")
        return None
    if converted is True:
        converted = {}
    elif converted is False:
        converted = {"not": {}}
    if not isinstance(converted, dict):
        ctx.notes.add(f"{label}: the response schema is not an object; body not checked")
        return None
    schema = {"$schema": DRAFT_2020_12, **converted}
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        ctx.notes.add(
            f"{label}: the response schema is not valid JSON Schema "
            f"({_clip(' '.join(exc.message.split()), 160)}); body not checked"
        )
        return None
    return schema


class _Converter:
    """Inline ``$ref``s and turn OpenAPI 3.0 / Swagger 2.0 schema dialects into 2020-12."""

    def __init__(self, ctx: _Doc, label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.legacy = ctx.version != "3.1"
        self.left = MAX_SCHEMA_NODES

    def _tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooBig

    def schema(self, node: Any, depth: int, refs: tuple[str, ...]) -> Any:
        self._tick()
        if depth > MAX_SCHEMA_DEPTH:
            self.ctx.notes.add(f"{self.label}: schema nested too deeply, cut to {{}}")
            return {}
        if not isinstance(node, dict):
            return self.data(node)  # booleans (3.1); anything else fails check_schema
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.ref(ref, depth, refs)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if self.legacy or not siblings:
                return target  # 3.0 and 2.0 ignore what sits beside a $ref
            rest = self.keywords(siblings, depth, refs)
            rest["allOf"] = [*rest.get("allOf", []), target]
            return rest
        return self.keywords(node, depth, refs)

    def ref(self, ref: str, depth: int, refs: tuple[str, ...]) -> Any:
        shown = _clip(ref)
        if not ref.startswith("#/") and ref != "#":
            self.ctx.notes.add(f"{self.label}: $ref {shown} not followed (not in this document)")
            return {}
        if ref in refs:
            self.ctx.notes.add(f"{self.label}: recursive $ref {shown} cut to {{}}")
            return {}
        if len(refs) >= MAX_REF_CHAIN:
            self.ctx.notes.add(f"{self.label}: $ref nesting too deep at {shown}, cut to {{}}")
            return {}
        target = self.ctx.local(ref)
        if target is MISSING:
            self.ctx.notes.add(f"{self.label}: $ref {shown} names nothing in the document")
            return {}
        return self.schema(target, depth + 1, (*refs, ref))

    def keywords(self, node: dict[str, Any], depth: int, refs: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if self.legacy and (key in _OAS_ONLY or key.startswith("x-")):
                continue
            if self.legacy and key == "type" and value == "file":
                continue  # Swagger 2.0 file uploads: any body
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: self.schema(v, depth + 1, refs) for k, v in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.schema(v, depth + 1, refs) for v in value]
            elif key == "items" and isinstance(value, list) and self.legacy:
                out["prefixItems"] = [self.schema(v, depth + 1, refs) for v in value]
            elif key in _SCHEMA_ONE:
                out[key] = self.schema(value, depth + 1, refs)
            else:
                out[key] = self.data(value)
        if not self.legacy:
            return out
        for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            exclusive = out.get(flag)
            if exclusive is True and bound in out:
                out[flag] = out.pop(bound)
            elif isinstance(exclusive, bool):
                del out[flag]
        if node.get("nullable") is True or node.get("x-nullable") is True:
            return _nullable(out)
        return out

    def data(self, value: Any) -> Any:
        """A copy of plain data (enum, default, const...), counted against the budget."""
        self._tick()
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema: null is allowed too."""
    kind = schema.get("type")
    combined = any(k in schema for k in ("allOf", "anyOf", "oneOf", "not", "if", "const"))
    if combined or not isinstance(kind, str | list):
        return {"anyOf": [schema, {"type": "null"}]}
    if isinstance(kind, str):
        schema["type"] = [kind, "null"] if kind != "null" else kind
    elif "null" not in kind:
        schema["type"] = [*kind, "null"]
    enum = schema.get("enum")
    if isinstance(enum, list) and None not in enum:
        schema["enum"] = [*enum, None]
    return schema


# -- calls seen while exploring --------------------------------------------------------


def observed_operations(
    observed: Iterable[tuple[str, str, int, str]],
    start_url: str,
    known: Iterable[ApiOperation],
) -> list[ApiOperation]:
    """Checks for same-origin GET calls that answered 2xx and no documented operation covers.

    ``observed`` holds (method, url, status, content type) of fetch/XHR requests.
    A call whose query carries something secret-looking (a token, a key) is left
    out: its URL would end up in a suite file.
    """
    target = origin_of(start_url)
    covering = [
        (origin_of(op.url), _template_pattern(op.template or urlsplit(op.url).path))
        for op in known
        if op.method == "GET"
    ]
    found: list[ApiOperation] = []
    seen: set[str] = set()
    for method, raw_url, status, ctype in observed:
        url = urldefrag(raw_url)[0]
        parts = urlsplit(url)
        if (
            method.upper() != "GET"
            or not 200 <= status < 300
            or parts.scheme not in ("http", "https")
            or origin_of(url) != target
            or url in seen
        ):
            continue
        seen.add(url)
        path = parts.path or "/"
        if _secret_query(parts.query):
            continue
        if any(
            origin == target and pattern.fullmatch(unquote(path)) for origin, pattern in covering
        ):
            continue
        media = (ctype or "").split(";", 1)[0].strip().lower() or None
        shown = _clip(path + (f"?{parts.query}" if parts.query else ""))
        found.append(
            ApiOperation(
                method="GET",
                url=url,
                expect_status="2xx",
                content_type=media,
                json_schema=None,
                source="observed",
                summary=f"GET {shown} (observed)",
                template=path,
            )
        )
        if len(found) >= MAX_OPERATIONS:
            break
    return found


def _template_pattern(template: str) -> re.Pattern[str]:
    pieces = re.split(r"(\{[^{}/]+\})", unquote(template) or "/")
    return re.compile(
        "".join("[^/]+" if _TEMPLATE_VAR.fullmatch(p) else re.escape(p) for p in pieces)
    )


def _secret_query(query: str) -> bool:
    names = [pair.split("=", 1)[0] for pair in query.split("&") if pair]
    return any(_SECRET_PARAM.search(unquote(name)) for name in names)


# -- specs -----------------------------------------------------------------------------


class IdMaker(Protocol):
    def make(self, prefix: str, text: str) -> str: ...


def operation_spec(ids: IdMaker, op: ApiOperation) -> dict[str, object]:
    """A spec (as data, for ``parse_spec``) that checks one operation."""
    parts = urlsplit(op.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    step: dict[str, object] = {
        "action": "api_request",
        "method": op.method,
        "url": op.url,
        "expect_status": op.expect_status,
    }
    if op.content_type:
        step["content_type"] = op.content_type
    if op.json_schema is not None:
        step["json_schema"] = op.json_schema
    return {
        "id": ids.make("api", f"{op.method}-{path}"),
        "name": f"API {op.summary} answers {op.expect_status}"[:300],
        "kind": "api",
        "category": "api",
        "url": op.url,
        "steps": [step],
        "tags": ["api", op.source],
    }
