"""Finding and reading API documents: where they may be, JSON and YAML, and what is refused.

``parse_document`` reads the documents a local shop publishes (``tests.apidocs``)
and refuses what is not one, too big, or unsafe to expand.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from matf.agents.apidiscovery.document import (
    DOC_PATHS,
    MAX_DOC_BYTES,
    candidate_doc_urls,
    parse_document,
)
from tests.apidocs import document, fetch, serve_shop


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serve_shop() as url:
        yield url


def test_candidate_doc_urls_linked_first_same_origin_deduplicated() -> None:
    start = "http://shop.test:8080/catalog/"
    urls = candidate_doc_urls(
        start,
        linked=[
            "/docs/swagger.json",  # looks like an API document
            "../about.html",  # does not
            "https://other.test/openapi.json",  # another origin
            "/openapi.json#section",  # a DOC_PATHS entry, linked: comes first, once
            "data/api-v2.yaml",
        ],
        described=["/spec"],
    )
    assert urls[:4] == [
        "http://shop.test:8080/spec",
        "http://shop.test:8080/docs/swagger.json",
        "http://shop.test:8080/openapi.json",
        "http://shop.test:8080/catalog/data/api-v2.yaml",
    ]
    assert len(urls) == len(set(urls))
    assert all(u.startswith("http://shop.test:8080/") for u in urls)
    assert "http://shop.test:8080/about.html" not in urls
    assert {f"http://shop.test:8080{p}" for p in DOC_PATHS} <= set(urls)
    assert len(urls) == 3 + len(DOC_PATHS)


def test_parse_document_reads_json_and_yaml_and_refuses_the_rest(api: str) -> None:
    doc30 = document(api, "/openapi.json")
    assert doc30["openapi"] == "3.0.3"
    doc31 = document(api, "/openapi.yaml")
    responses = doc31["paths"]["/changes"]["get"]["responses"]
    assert list(responses) == ["200"]  # YAML's integer key, as a string
    since = doc31["paths"]["/changes"]["get"]["parameters"][0]["schema"]["default"]
    assert since == "2024-01-01"  # YAML's date, as an ISO string
    assert document(api, "/docs/swagger.json")["swagger"] == "2.0"

    html, ctype = fetch(api + "/")
    assert parse_document(html, ctype) is None
    assert parse_document(b'{"hello": "world"}', "application/json") is None
    assert parse_document(b'{"openapi": "2.5"}', "application/json") is None
    assert parse_document(b"swagger: '1.2'\npaths: {}\n", "application/yaml") is None
    assert parse_document(b"openapi: [unclosed", None) is None
    assert parse_document(b"\xff\xfe not utf-8", None) is None
    big = b'{"openapi": "3.0.0", "x": "' + b"a" * MAX_DOC_BYTES + b'"}'
    assert parse_document(big, "application/json") is None
    laughs = "openapi: 3.0.0\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    assert parse_document(laughs.encode(), "application/yaml") is None  # 10^9 nodes expanded
    assert parse_document(b"openapi: 3.1.0\nswagger: !!python/object:os.system x\n", None) is None
