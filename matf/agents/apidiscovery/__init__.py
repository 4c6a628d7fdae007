"""Find a site's API: its OpenAPI / Swagger document, and the calls its pages make.

A published document (OpenAPI 3.x or Swagger 2.0, JSON or YAML) gives each safe
operation (GET, HEAD) a check: the URL with its parameters filled from the
document's examples, the documented success status and media type, and the
success body's schema turned into a self-contained JSON Schema (draft 2020-12).
Calls seen while exploring that no document covers get a looser check.

The modules, in the order a document flows through them:

- ``document``: where a document may be, fetching and parsing it safely, ``$ref``;
- ``documented``: the operations it describes (``parameters``, ``responses``,
  ``schema`` fill in their URL, expected answer and body schema);
- ``observed``: checks for fetch/XHR calls no document covers;
- ``operation``: ``ApiOperation`` and the spec that checks it; ``notes``: what was skipped.

The document is untrusted data: it is parsed (``yaml.safe_load``, never a full
loader), capped in size, walked with node and depth budgets, and only its own
``#/...`` references are followed. Nothing in it is evaluated. Generated checks
never change data: unsafe methods are skipped, with a note saying so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matf.agents.apidiscovery.document import candidate_doc_urls, fetch_document
from matf.agents.apidiscovery.documented import operations_from_document
from matf.agents.apidiscovery.operation import MAX_OPERATIONS, ApiOperation

if TYPE_CHECKING:
    from playwright.sync_api import APIRequestContext


@dataclass
class Discovery:
    """What ``discover_documented`` found: the document, its operations, notes."""

    document_url: str | None
    operations: list[ApiOperation]
    notes: list[str]


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
    notes: list[str] = []
    for url in candidate_doc_urls(start_url, linked, described):
        fetched = fetch_document(request, url, start_url, timeout_ms, notes)
        if fetched is None:
            continue
        doc_url, doc = fetched
        operations, more = operations_from_document(doc, doc_url, start_url, max_ops)
        return Discovery(doc_url, operations, notes + more)
    notes.append("no OpenAPI or Swagger document found")
    return Discovery(None, [], notes)
