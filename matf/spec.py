"""Test specs: declarative JSON, validated by a strict schema, never code.

A spec is a list of steps a browser performs and checks. Whoever writes it (the
heuristic writer, an LLM, a person) writes data; the executor interprets it.
Every model forbids unknown fields, so a typo is an error, not a silent no-op.
``schemas/spec.schema.json`` is generated from these models (``matf schema``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from matf.errors import SpecError

# The locator model lives in its own module; specs (and their users) name it from here.
from matf.locator import AriaRole as AriaRole
from matf.locator import Locator as Locator

Kind = Literal["functional", "accessibility", "performance", "visual", "api"]
KINDS: tuple[Kind, ...] = ("functional", "accessibility", "performance", "visual", "api")
Category = Literal[
    "page",
    "link",
    "image",
    "form",
    "button",
    "accessibility",
    "performance",
    "visual",
    "api",
    "access",  # a page a role must be denied (matf.agents.access)
    "custom",
]
Impact = Literal["minor", "moderate", "serious", "critical"]
StatusClass = Literal["2xx", "3xx", "4xx", "5xx"]
# What a user may not open answers "denied": a 3xx (to the sign-in form, most often) or a 4xx.
Denied = Literal["denied"]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _alternatives() -> Any:
    return Field(
        None,
        max_length=5,
        description=(
            "other locators of the same element, recorded when the test was written; "
            "never used to run the test, only offered by the healer when target matches nothing"
        ),
    )


class Goto(_Strict):
    """Open a URL (absolute, or relative to the spec's url) and check its status."""

    action: Literal["goto"]
    url: str
    expect_status: StatusClass | None = "2xx"
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = Field(
        "load",
        description="networkidle: after load, wait up to 5 s for the network to go quiet",
    )


class Click(_Strict):
    action: Literal["click"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()


class Fill(_Strict):
    action: Literal["fill"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()
    value: str


class Select(_Strict):
    action: Literal["select"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()
    value: str


class Check(_Strict):
    action: Literal["check"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()


class Press(_Strict):
    action: Literal["press"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()
    key: str = Field(pattern=r"^[A-Za-z0-9+]{1,32}$")


class Submit(_Strict):
    """Click a submit control and wait for what the submission answers."""

    action: Literal["submit"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()


class ExpectVisible(_Strict):
    action: Literal["expect_visible"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()


class ExpectText(_Strict):
    action: Literal["expect_text"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()
    text: str


class ExpectUrl(_Strict):
    action: Literal["expect_url"]
    url: str = Field(description="exact URL, or a substring when 'contains' is true")
    contains: bool = False


class ExpectTitle(_Strict):
    action: Literal["expect_title"]
    title: str
    contains: bool = False


class ExpectStatus(_Strict):
    """Fetch a URL without rendering it (links, images) and check the answer."""

    action: Literal["expect_status"]
    url: str
    status: StatusClass | Denied = Field(
        "2xx", description='a status class, or "denied": a 3xx or 4xx (an access check)'
    )
    content_type: str | None = Field(None, description="expected prefix, e.g. image/")
    # Left out of a saved spec when true: suites saved before the field read back unchanged.
    follow_redirects: bool = Field(
        True,
        description="false: judge the first answer (a redirect to the sign-in form is 3xx)",
        exclude_if=lambda value: value,
    )


_SINCE = "only what the page reported since the last click, press or submit"


def _since() -> Any:
    # Left out of a saved spec when false: suites saved before the field read back unchanged.
    return Field(False, description=_SINCE, exclude_if=lambda value: not value)


class ExpectNoConsoleErrors(_Strict):
    """No console error since the test began (or since the last action, if asked)."""

    action: Literal["expect_no_console_errors"]
    since_last_action: bool = _since()


class ExpectNoPageErrors(_Strict):
    """No uncaught error in the page (since the last click/submit/press, if asked)."""

    action: Literal["expect_no_page_errors"]
    since_last_action: bool = Field(False, description=_SINCE)


class ExpectNoFailedRequests(_Strict):
    """No same-origin request failed or answered 4xx/5xx (since the last action, if asked).

    ``answers``: 4xx statuses that are the site answering, not failing (a
    form's validation refusing made-up values: 400, 401, 403, 409, 422).
    """

    action: Literal["expect_no_failed_requests"]
    since_last_action: bool = _since()
    answers: list[Annotated[int, Field(ge=400, le=499)]] = Field(
        default_factory=list, max_length=20, exclude_if=lambda value: not value
    )


class ExpectNoServerErrors(_Strict):
    """No same-origin request answered 5xx (since the last action, if asked)."""

    action: Literal["expect_no_server_errors"]
    since_last_action: bool = _since()


class ExpectChange(_Strict):
    """The last click, press or submit changed the page: it navigated, or what it shows changed."""

    action: Literal["expect_change"]


class ExpectContent(_Strict):
    """The page shows some visible text: not blank, not a bare error."""

    action: Literal["expect_content"]


class CheckAccessibility(_Strict):
    """Run axe-core on the page; fail on violations of at least ``min_impact``."""

    action: Literal["check_accessibility"]
    min_impact: Impact = "minor"


class WaitFor(_Strict):
    """Wait for an element to be visible (a wait on a condition, never a sleep)."""

    action: Literal["wait_for"]
    target: Locator
    alternatives: list[Locator] | None = _alternatives()


class Budgets(_Strict):
    """Performance budgets; a page over one fails with the metric, its value and the budget.

    Defaults follow Google's "good" thresholds for the Core Web Vitals. ``None``
    turns a budget off.
    """

    lcp_ms: float | None = Field(default=2500, ge=0, description="Largest Contentful Paint")
    cls: float | None = Field(default=0.1, ge=0, description="Cumulative Layout Shift")
    tbt_ms: float | None = Field(default=200, ge=0, description="Total Blocking Time (long tasks)")
    ttfb_ms: float | None = Field(default=800, ge=0, description="Time To First Byte")
    fcp_ms: float | None = Field(default=None, ge=0, description="First Contentful Paint")
    load_ms: float | None = Field(default=None, ge=0, description="load event end")
    requests: int | None = Field(default=None, ge=0, description="requests made by the page")
    transfer_kb: float | None = Field(default=None, ge=0, description="bytes transferred, in KiB")


class CheckPerformance(_Strict):
    """Measure the page the test last opened (web vitals, timings, bytes) against budgets."""

    action: Literal["check_performance"]
    budgets: Budgets = Field(default_factory=lambda: Budgets())


class CheckVisual(_Strict):
    """Screenshot the page, rendered stably, and compare it with its approved baseline.

    The first run records the baseline. ``threshold`` is the per-pixel colour
    distance that counts as a change (0-1, pixelmatch's); ``tolerance`` the
    share of changed pixels the page may have and still pass.
    """

    action: Literal["check_visual"]
    name: str = Field(
        "page", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="baseline name in the test"
    )
    mask: list[Locator] = Field(default_factory=list, max_length=50)
    full_page: bool = True
    threshold: float = Field(0.1, ge=0, le=1)
    tolerance: float = Field(0.001, ge=0, le=1)


class JsonExpectation(_Strict):
    """A value in a JSON body, found by JSON Pointer (RFC 6901): present, or equal."""

    pointer: str = Field(pattern=r"^(/.*)?$", max_length=500)
    equals: Any = None
    exists: bool = True


class ApiRequest(_Strict):
    """Send one HTTP request (no rendering) and check what it answers.

    ``json_schema`` is a JSON Schema (draft 2020-12) the JSON body must conform to.
    """

    action: Literal["api_request"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    body: Any = Field(None, description="sent as JSON when given")
    expect_status: StatusClass | Annotated[int, Field(ge=100, le=599)] | None = "2xx"
    content_type: str | None = Field(None, description="expected prefix, e.g. application/json")
    max_time_ms: int | None = Field(None, ge=1, le=600_000)
    json_schema: dict[str, Any] | None = None
    expect_json: list[JsonExpectation] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _valid_schema(self) -> ApiRequest:
        if self.json_schema is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.json_schema)
            except SchemaError as exc:
                raise ValueError(f"json_schema is not a valid JSON Schema: {exc.message}") from exc
        return self


class Viewport(_Strict):
    width: int = Field(ge=100, le=7680)
    height: int = Field(ge=100, le=7680)


Step = Annotated[
    Goto
    | Click
    | Fill
    | Select
    | Check
    | Press
    | Submit
    | ExpectVisible
    | ExpectText
    | ExpectUrl
    | ExpectTitle
    | ExpectStatus
    | ExpectNoConsoleErrors
    | ExpectNoPageErrors
    | ExpectNoFailedRequests
    | ExpectNoServerErrors
    | ExpectContent
    | ExpectChange
    | CheckAccessibility
    | CheckPerformance
    | CheckVisual
    | ApiRequest
    | WaitFor,
    Field(discriminator="action"),
]


class TestSpec(_Strict):
    """One test: a named list of steps, run in one fresh browser context."""

    __test__ = False  # not a pytest test class, whatever its name

    id: str = Field(pattern=_ID.pattern, description="stable id, unique in a suite")
    name: str = Field(min_length=1, max_length=300)
    kind: Kind = "functional"
    category: Category = "custom"
    url: str = Field(description="the page under test; relative step URLs resolve against it")
    steps: list[Step] = Field(min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=20)
    timeout_ms: int | None = Field(None, ge=100, le=3_600_000)
    viewport: Viewport | None = Field(None, description="page size; a device's when not given")
    # Both left out of a saved spec when unset: suites saved before them read back unchanged.
    signed_in: bool = Field(
        False,
        description="the test starts signed in (the target secret login, or login.<role>)",
        exclude_if=lambda value: not value,
    )
    role: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="whose sign-in: the secret login.<role>; none: the secret login",
        exclude_if=lambda value: value is None,
    )

    @model_validator(mode="after")
    def _http_url(self) -> TestSpec:
        if not re.match(r"^https?://[^\s/]+", self.url):
            raise ValueError("url must be an absolute http(s) URL")
        if self.role is not None and not self.signed_in:
            raise ValueError("a role needs signed_in: true")
        return self


class Suite(_Strict):
    """A saved list of specs, what `matf write` emits and `matf run --suite` reads."""

    version: Literal[1] = 1
    target: str | None = None
    tests: list[TestSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        for spec in self.tests:
            if spec.id in seen:
                raise ValueError(f"duplicate test id {spec.id!r}")
            seen.add(spec.id)
        return self


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "document"
    return f"{where}: {err['msg']}"


def parse_spec(data: object) -> TestSpec:
    """Validate one spec given as decoded JSON."""
    try:
        return TestSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"invalid spec: {_first_problem(exc)}") from exc


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file, or raise a one-line ``SpecError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read suite {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {_first_problem(exc)}") from exc


def spec_json_schema() -> dict[str, object]:
    """The JSON Schema of a suite file, for people who write specs by hand."""
    schema = Suite.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://matf.dev/schemas/suite.schema.json"
    return schema


MAX_ALTERNATIVES = 5
Targeted = Click | Fill | Select | Check | Press | Submit | ExpectVisible | ExpectText | WaitFor
TARGETED = (Click, Fill, Select, Check, Press, Submit, ExpectVisible, ExpectText, WaitFor)


def describe_locator(value: object) -> str:
    """A stored locator as people read it (``button 'Buy'``); its raw fields if invalid."""
    if not isinstance(value, dict):
        return str(value) if value is not None else "element"
    try:
        return Locator.model_validate(value).describe()
    except ValidationError:
        return ", ".join(f"{key}={item!r}" for key, item in value.items()) or "element"


def retarget(spec: TestSpec, index: int, target: Locator) -> TestSpec:
    """``spec`` with step ``index`` finding its element by ``target``.

    The old target becomes the step's first alternative (the page may change
    back). Nothing else changes: no value, no expectation, no other step.
    """
    step = spec.steps[index]
    if not isinstance(step, TARGETED):
        raise ValueError(f"step {index + 1} ({step.action}) has no target")
    kept = [
        loc for loc in dict.fromkeys([step.target, *(step.alternatives or [])]) if loc != target
    ]
    steps = list(spec.steps)
    steps[index] = step.model_copy(
        update={"target": target, "alternatives": kept[:MAX_ALTERNATIVES] or None}
    )
    return spec.model_copy(update={"steps": steps})


def same_but_locators(before: TestSpec, after: TestSpec) -> bool:
    """Whether two specs differ at most in their steps' targets and alternatives."""

    def without_locators(spec: TestSpec) -> dict[str, Any]:
        data = spec.model_dump(mode="json")
        for step in data["steps"]:
            step.pop("target", None)
            step.pop("alternatives", None)
        return data

    return without_locators(before) == without_locators(after)
