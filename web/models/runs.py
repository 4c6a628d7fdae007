"""The runs blueprint's models: starting runs, their progress, results, events, trends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from matf.loginsuite import LOGIN_ACTIONS, MAX_LOGIN_STEPS, check_login_steps
from matf.netguard import NetworkPolicy
from matf.options import (
    DEFAULT_TYPES,
    FORMATS_HELP,
    REPORT_FORMATS,
    STEPS_OR_URL,
    AiOptions,
    HealingOptions,
    Limits,
    LoginOptions,
    NetworkOptions,
    RenderingOptions,
    ReportFormat,
    RunOptions,
    check_formats,
)
from matf.options import (
    Role as LoginRole,
)
from matf.reports.document import Exploration
from matf.results import PerfMetrics, RunStatus, TestResult
from matf.settings import BrowserName
from matf.spec import Kind, Step
from web.models.common import Strict

Goal = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class AiRequest(Strict):
    """What a run asks of the AI writer (the server needs MISTRAL_API_KEY): goals, spend."""

    enabled: bool = Field(
        True, description="false: write tests heuristically and heal from stored locators only"
    )
    goals: list[Goal] = Field(
        default_factory=list,
        max_length=50,
        description="user stories for the writer, e.g. 'a visitor can subscribe to the "
        "newsletter'; each stripped, blank ones dropped",
    )
    max_llm_calls: int | None = Field(
        None, ge=1, le=100_000, description="the most model calls the run may make"
    )
    max_tokens: int | None = Field(
        None, ge=1, le=100_000_000, description="the most tokens (in and out) the run may spend"
    )

    @field_validator("goals")
    @classmethod
    def _drop_blank(cls, goals: list[str]) -> list[str]:
        return [goal for goal in goals if goal]

    def options(self) -> AiOptions:
        """The run's AI options, as ``matf run`` builds them."""
        return AiOptions(
            enabled=self.enabled,
            goals=tuple(self.goals),
            max_calls=self.max_llm_calls,
            max_tokens=self.max_tokens,
        )


class TargetLogin(Strict):
    """Sign in first: with the target secret ``login``, or once per role with ``login.<role>``."""

    enabled: bool = Field(True, description="false: do not sign in (the same as no login)")
    url: str | None = Field(
        None,
        max_length=2000,
        description="the sign-in page, an absolute URL on the target's origin "
        "(default: found from the site)",
    )
    check: str | None = Field(
        None,
        max_length=500,
        description='a Playwright selector only a signed-in page shows, e.g. "text=Sign out"',
    )
    roles: list[LoginRole] = Field(
        default_factory=list,
        max_length=10,
        description="sign in as each role with the target secret login.<role>, and run the "
        "suite once per role; none: the secret login",
    )
    steps: list[Step] = Field(
        default_factory=list,
        max_length=MAX_LOGIN_STEPS,
        description="a login suite: spec steps that sign in instead of a form (single sign-on, "
        "several pages), as matf run --login-suite; {{secret:login.username}} and "
        "{{secret:login.password}} stand for the role's credentials; actions: "
        + ", ".join(LOGIN_ACTIONS)
        + "; not with url",
    )

    @field_validator("steps")
    @classmethod
    def _login_steps(cls, steps: list[Step]) -> list[Step]:
        return list(check_login_steps(steps))

    @model_validator(mode="after")
    def _steps_or_url(self) -> TargetLogin:
        if self.steps and self.url is not None:
            raise ValueError(STEPS_OR_URL)
        return self

    def options(self) -> LoginOptions:
        """The run's login options, as ``matf run --login ...`` builds them."""
        return LoginOptions(
            enabled=self.enabled,
            url=self.url,
            check=self.check,
            roles=tuple(self.roles),
            steps=tuple(self.steps),
        )


def _login_shorthand(schema: dict[str, Any]) -> None:
    """Document ``"login": true`` (and ``false``) beside the object."""
    schema["anyOf"] = [{"type": "boolean"}, *schema.get("anyOf", [])]


class ExecuteRequest(Strict):
    """Start a run: a URL (the guide's ``type``, or ``types``) or a saved suite."""

    url: AnyHttpUrl | None = None
    type: Kind | None = None
    types: list[Kind] | None = Field(None, min_length=1, max_length=5)
    browsers: list[BrowserName] = Field(default=["chromium"], min_length=1)
    max_pages: int | None = Field(None, ge=1, le=500)
    max_interactions: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="clicks per page on what reveals more (dialogs, menus, tabs); 0: none",
    )
    max_depth: int | None = Field(
        None, ge=1, le=10, description="clicks deep a revealed state may be"
    )
    suite_id: str | None = Field(None, max_length=64)
    device: str | None = Field(
        None, max_length=100, description="a name from Playwright's device list, e.g. Pixel 7"
    )
    video: bool = Field(False, description="record tests; keep the videos of failed ones")
    budgets: dict[str, float | None] | None = Field(
        None, description="performance budgets over the target's (lcp_ms, cls, tbt_ms, ...)"
    )
    masks: list[str] | None = Field(
        None, max_length=50, description="CSS selectors painted over in visual checks"
    )
    viewports: (
        list[
            Annotated[
                list[Annotated[int, Field(ge=100, le=7680)]], Field(min_length=2, max_length=2)
            ]
        ]
        | None
    ) = Field(None, max_length=10, description="[width, height] pairs visual checks capture at")
    baseline_set: str | None = Field(
        None, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="visual baselines to compare with (default: the target's host and port)",
    )  # fmt: skip
    heal: bool = Field(
        True, description="propose new locators for tests whose element is gone (for review)"
    )
    ai: AiRequest | None = Field(
        None, description="goals for the AI writer, and caps on what the run spends on the model"
    )
    formats: list[ReportFormat] = Field(
        default=list(REPORT_FORMATS),
        min_length=1,
        max_length=len(REPORT_FORMATS),
        description=f'the reports to write, e.g. ["html", "pdf"] ({FORMATS_HELP}); '
        "a report not asked for is not written, and its download answers 404",
    )
    login: TargetLogin | None = Field(
        None,
        description="sign in first (the target's secrets must hold the credentials, "
        "see matf secrets set); true: with the secret login",
        json_schema_extra=_login_shorthand,
    )

    @field_validator("formats", mode="before")
    @classmethod
    def _known_formats(cls, formats: Any) -> Any:
        return check_formats(formats)

    @field_validator("login", mode="before")
    @classmethod
    def _login_flag(cls, login: Any) -> Any:
        return {"enabled": login} if isinstance(login, bool) else login

    @model_validator(mode="after")
    def _url_or_suite(self) -> ExecuteRequest:
        if self.url is None and self.suite_id is None:
            raise ValueError("give a url, a suite_id, or both")
        if self.type is not None and self.types is not None:
            raise ValueError("give type or types, not both")
        return self

    def kinds(self) -> tuple[Kind, ...]:
        if self.types:
            return tuple(self.types)
        return (self.type,) if self.type else DEFAULT_TYPES

    def _limits(self, max_pages: int) -> Limits:
        given = {"max_interactions": self.max_interactions, "max_depth": self.max_depth}
        return Limits(
            max_pages=self.max_pages or max_pages,
            **{k: v for k, v in given.items() if v is not None},
        )

    def options(self, max_pages: int, quarantined: list[str], guard: NetworkPolicy) -> RunOptions:
        """The run's options; ``max_pages`` unless the request names its own."""
        return RunOptions(
            types=self.kinds(),
            browsers=tuple(self.browsers),
            limits=self._limits(max_pages),
            rendering=RenderingOptions(
                device=self.device,
                video=self.video,
                masks=tuple(self.masks or ()),
                viewports=tuple((w, h) for w, h in self.viewports or []),
                baseline_set=self.baseline_set,
            ),
            budgets=dict(self.budgets or {}),
            ai=self.ai.options() if self.ai is not None else AiOptions(),
            healing=HealingOptions(enabled=self.heal),
            network=NetworkOptions.of(guard),
            quarantined=tuple(quarantined),
            formats=tuple(self.formats),
            login=self.login.options() if self.login is not None else LoginOptions(),
        )


class RunAccepted(BaseModel):
    run_id: str
    status: RunStatus
    status_url: str
    links: dict[str, str]


class Counts(BaseModel):
    total: int = 0
    passed: int = 0
    failed: int = 0
    flaky: int = 0
    error: int = 0
    skipped: int = 0


class RunOut(BaseModel):
    id: str
    target: str
    status: RunStatus
    phase: str
    error: str | None
    total: int
    types: list[str]
    browsers: list[str]
    suite_id: str | None
    created_by: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    counts: Counts
    links: dict[str, str]
    exploration: Exploration | None = Field(
        None,
        description="what exploring the site did: pages read and not, URL templates sampled, "
        "tests dropped as invalid; in GET /runs/{run_id} only (null in lists and for suites)",
    )


RESULTS_PAGE = 200  # a run of a few hundred tests still reads in one or two pages
RESULTS_MAX = 1000


class RunPage(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class RunQuery(Strict):
    status: list[RunStatus] | None = None
    target: str | None = Field(None, max_length=300, description="substring of the target URL")
    suite_id: str | None = Field(None, max_length=64)
    since: str | None = Field(None, max_length=40, description="ISO date or time, inclusive")
    limit: int = Field(20, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)

    @field_validator("since")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError("must be an ISO date or time, e.g. 2026-11-28") from exc
        return value


class RunProgress(BaseModel):
    status: RunStatus
    phase: str
    total: int
    done: int
    failed: int
    error: str | None


class ResultsQuery(Strict):
    status: list[Literal["passed", "failed", "flaky", "error", "skipped"]] | None = None
    browser: BrowserName | None = None
    limit: int = Field(RESULTS_PAGE, ge=1, le=RESULTS_MAX, description="results per page")
    after: int = Field(
        0, ge=0, le=2**63 - 1, description="the cursor: the `next` link of the page before"
    )


class ResultList(BaseModel):
    """One page of a run's results, in the order they were stored."""

    items: list[TestResult]
    next: str | None = Field(
        default=None, description="the next page's URL (same filters and limit); absent on the last"
    )


class ArtifactOut(BaseModel):
    case_id: str
    browser: str
    kind: Literal["screenshot", "trace", "video", "visual-actual", "visual-diff"]
    url: str


class ArtifactList(BaseModel):
    items: list[ArtifactOut]


class EventOut(BaseModel):
    id: int
    kind: str
    agent: str
    run_id: str | None
    at: str
    payload: dict[str, Any]


class EventList(BaseModel):
    items: list[EventOut]


class EventQuery(Strict):
    after: int = Field(0, ge=0, le=2**63 - 1)  # an event id: SQLite's integer, no larger
    limit: int = Field(500, ge=1, le=2000)


class TrendPoint(BaseModel):
    run_id: str
    target: str
    status: RunStatus
    finished_at: str | None
    pass_rate: float | None
    duration_s: float | None
    flaky: int
    total: int


class Trends(BaseModel):
    items: list[TrendPoint]


class TrendQuery(Strict):
    target: str | None = Field(None, max_length=300)
    limit: int = Field(50, ge=1, le=500)


class PerfPoint(PerfMetrics):
    """One page load measured in one run: its metrics, and where they come from."""

    run_id: str
    finished_at: str | None
    case_id: str
    browser: str


class PerfTrends(BaseModel):
    items: list[PerfPoint]


class PerfTrendQuery(Strict):
    target: str | None = Field(None, max_length=300)
    page: str | None = Field(None, max_length=2000, description="one page's URL")
    limit: int = Field(20, ge=1, le=200, description="ended runs to look back")
