"""What a run is asked to do: one typed, frozen object, validated once, stored as JSON.

The command line, the API, a re-run and the scheduler all build a
``RunOptions`` and call ``checked(settings)``; the run row stores
``model_dump(mode="json")`` and every reader gets it back with
``RunOptions.model_validate``. No reader invents its own default: the defaults
live here. What a run produces (model usage, healing figures) is not an
option and lives in its own columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from matf.errors import UsageError
from matf.loginsuite import MAX_LOGIN_STEPS, check_login_steps
from matf.netguard import NetworkPolicy
from matf.settings import BrowserName
from matf.spec import Budgets, Kind, Step

if TYPE_CHECKING:
    from matf.settings import Settings

DEFAULT_TYPES: tuple[Kind, ...] = ("functional", "accessibility")
DEFAULT_BROWSERS: tuple[BrowserName, ...] = ("chromium",)

ReportFormat = Literal["html", "json", "junit", "pdf"]
# Each format's file in a run's report directory, in the order they are named to people.
REPORT_FILES: dict[ReportFormat, str] = {
    "html": "report.html",
    "json": "report.json",
    "junit": "junit.xml",
    "pdf": "report.pdf",
}
REPORT_FORMATS: tuple[ReportFormat, ...] = tuple(REPORT_FILES)
# The dashboard, the API's run pages and `matf run`'s summary read report.json.
ALWAYS_WRITTEN: ReportFormat = "json"
FORMATS_HELP = (
    f"json is always written: the dashboard and the summary read it; default: all of "
    f"{', '.join(REPORT_FORMATS)}"
)

# Interaction exploration per page, measured on the demo (see Limits).
MAX_INTERACTIONS = 12
MAX_DEPTH = 2

Size = Annotated[int, Field(ge=100, le=7680)]


@dataclass(frozen=True)
class Wording:
    """How an interface names what a one-line error is about: its users read that name."""

    goals: str
    no_key: str


COMMAND_LINE = Wording(goals="--goal", no_key="set MISTRAL_API_KEY")
API = Wording(goals="ai.goals", no_key="the server has no MISTRAL_API_KEY")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Frozen):
    """How much of the target a run explores."""

    max_pages: int = Field(
        default=25, ge=1, le=10_000, description="pages to explore, breadth first"
    )
    max_interactions: int = Field(
        default=MAX_INTERACTIONS,
        ge=0,
        le=1000,
        description="clicks per page on what reveals more (dialogs, menus, tabs); 0: none",
    )
    max_depth: int = Field(
        default=MAX_DEPTH, ge=1, le=10, description="clicks deep a revealed state may be"
    )


class RenderingOptions(_Frozen):
    """How pages are rendered and captured, the same for every test of the run."""

    device: str | None = Field(default=None, max_length=100, description="a Playwright device name")
    video: bool = Field(default=False, description="record tests; keep the videos of failed ones")
    masks: tuple[str, ...] = Field(
        default=(), max_length=50, description="CSS painted over in visuals"
    )
    viewports: tuple[tuple[Size, Size], ...] = Field(default=(), max_length=10)
    baseline_set: str | None = Field(
        default=None, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )

    @field_validator("masks")
    @classmethod
    def _drop_blank_masks(cls, masks: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(mask for mask in masks if mask.strip())


class AiOptions(_Frozen):
    """The AI writer's part: whether it may be used, its goals, the run's model caps."""

    enabled: bool = True
    goals: tuple[str, ...] = Field(default=(), max_length=50)
    max_calls: int | None = Field(default=None, ge=1, le=100_000)
    max_tokens: int | None = Field(default=None, ge=1, le=100_000_000)

    @field_validator("goals")
    @classmethod
    def _drop_blank_goals(cls, goals: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(goal.strip() for goal in goals if goal.strip())

    @property
    def capped(self) -> bool:
        return self.max_calls is not None or self.max_tokens is not None


class HealingOptions(_Frozen):
    """Whether failures by UI drift get locator proposals for review."""

    enabled: bool = True


class NetworkOptions(_Frozen):
    """Whether the run's connections are guarded, and what it may reach anyway."""

    guarded: bool = False
    allowed: tuple[str, ...] = ()

    @classmethod
    def of(cls, policy: NetworkPolicy) -> NetworkOptions:
        return cls(guarded=policy.guarded, allowed=policy.allowed)

    def policy(self) -> NetworkPolicy:
        return NetworkPolicy(
            guarded=self.guarded, allowed=NetworkPolicy.parse_allowed(self.allowed)
        )


STEPS_OR_URL = (
    "a login suite's steps and a sign-in page cannot both be given: the steps sign in by themselves"
)
ROLE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
Role = Annotated[str, Field(pattern=ROLE_PATTERN)]


class LoginOptions(_Frozen):
    """Whether the run signs in first, where, how it tells it worked, and as whom.

    ``roles`` empty: the target secret ``login``; else one sign-in per role,
    each with the secret ``login.<role>``, and the suite runs once per role.
    ``steps`` (a login suite, ``matf.loginsuite``) sign in instead of the form
    found at ``url`` or from the site: one or the other, never both.
    """

    enabled: bool = False
    url: str | None = Field(
        default=None, max_length=2000, description="the sign-in page (same origin as the target)"
    )
    check: str | None = Field(
        default=None,
        max_length=500,
        description='a selector only a signed-in page shows, e.g. "text=Sign out"',
    )
    roles: tuple[Role, ...] = Field(default=(), max_length=10)
    steps: tuple[Step, ...] = Field(
        default=(),
        max_length=MAX_LOGIN_STEPS,
        description="a login suite's steps, run instead of filling a form",
    )

    @field_validator("steps")
    @classmethod
    def _login_steps(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        return check_login_steps(steps)

    @model_validator(mode="after")
    def _steps_or_url(self) -> LoginOptions:
        if self.steps and self.url is not None:
            raise ValueError(STEPS_OR_URL)
        return self

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(roles))

    @field_validator("url", "check")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def sign_ins(self) -> tuple[str | None, ...]:
        """The roles the run signs in as: its roles, or the default login (None)."""
        if not self.enabled:
            return ()
        return self.roles or (None,)


class RunOptions(_Frozen):
    """Everything a run was asked to do; stored with the run, read back by every agent."""

    types: tuple[Kind, ...] = Field(default=DEFAULT_TYPES, min_length=1)
    browsers: tuple[BrowserName, ...] = Field(default=DEFAULT_BROWSERS, min_length=1)
    limits: Limits = Limits()
    rendering: RenderingOptions = RenderingOptions()
    budgets: dict[str, float | None] = Field(
        default_factory=dict, description="performance budgets over the target's saved ones"
    )
    ai: AiOptions = AiOptions()
    healing: HealingOptions = HealingOptions()
    network: NetworkOptions = NetworkOptions()
    quarantined: tuple[str, ...] = Field(
        default=(), description="case ids that run but cannot fail"
    )
    login: LoginOptions = LoginOptions()
    formats: tuple[ReportFormat, ...] = Field(
        default=REPORT_FORMATS,
        min_length=1,
        description=f"the report files written ({FORMATS_HELP})",
    )
    out_dir: str | None = Field(default=None, description="where the reports go")
    suite_file: str | None = Field(default=None, description="the suite file the tests came from")

    @field_validator("types", "browsers")
    @classmethod
    def _unique(cls, items: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(items))

    @field_validator("formats", mode="before")
    @classmethod
    def _known_formats(cls, formats: Any) -> Any:
        return check_formats(formats)

    @field_validator("formats")
    @classmethod
    def _with_json(cls, formats: tuple[ReportFormat, ...]) -> tuple[ReportFormat, ...]:
        """The asked formats and json, in ``REPORT_FORMATS``' order: what the run writes."""
        return tuple(f for f in REPORT_FORMATS if f in formats or f == ALWAYS_WRITTEN)

    def writes(self, name: str) -> bool:
        """Whether the run writes the report file ``name`` (report.pdf, junit.xml, ...)."""
        return any(REPORT_FILES[f] == name for f in self.formats)

    def checked(self, settings: Settings, wording: Wording = API) -> RunOptions:
        """These options if ``settings`` allow them; else a one-line UsageError naming why."""
        settings.check_types(list(self.types))
        check_budgets(self.budgets)
        if self.rendering.device is not None:
            from matf.browser.pool import device_names, unknown_device

            known = device_names()
            if self.rendering.device not in known:
                raise unknown_device(self.rendering.device, known)
        if self.ai.goals and self.ai.enabled and not settings.mistral_api_key:
            raise UsageError(f"{wording.goals} needs the AI writer: {wording.no_key}")
        return self

    @property
    def guard(self) -> NetworkPolicy:
        return self.network.policy()

    def to_json(self) -> dict[str, object]:
        """What the run row stores."""
        return self.model_dump(mode="json")


def check_formats(formats: Any) -> Any:
    """``formats`` if each is a known report format; else an error naming the bad one.

    Runs before pydantic's own check, whose message does not say which value is wrong;
    the API and ``RunOptions`` share it, so both say the same.
    """
    if isinstance(formats, list | tuple):
        for value in formats:
            if value not in REPORT_FORMATS:
                raise PydanticCustomError(
                    "report_format",
                    "unknown report format {bad}: choose from {allowed}",
                    {"bad": repr(value), "allowed": ", ".join(REPORT_FORMATS)},
                )
    return formats


def check_budgets(budgets: dict[str, float | None]) -> dict[str, float | None]:
    """Budgets validated against ``spec.Budgets``; a one-line UsageError otherwise."""
    try:
        Budgets.model_validate(budgets)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "budgets"
        raise UsageError(f"invalid budget {where}: {err['msg']}") from exc
    return dict(budgets)


# --- how many executors embedded mode starts -----------------------------------------------

# PSS of one embedded worker's browser side: Playwright's node driver plus a headless
# Chromium (browser, GPU, network, renderer processes) showing a demo page, measured by
# bench/workers_curve.py: 267-301 MiB; a heavier real page needs more, hence the margin.
BROWSER_MEMORY = 512 * 2**20
# Embedded workers are threads of one Python process: past this many its own share of a
# core bounds them, however many cores the machine has. More with --workers.
MAX_DEFAULT_WORKERS = 8


def default_workers(cores: float, memory_available: int | None) -> int:
    """The embedded executors a machine runs fastest with, from bench/workers_curve.py.

    Each worker drives a browser whose renderer, GPU and network processes take
    as much CPU as the worker itself: on 2 cores one worker ran the 60-test
    suite faster than two, so a worker wants two cores. Memory caps it at what
    the browsers fit in, and one worker always runs.
    """
    by_cores = int(cores) // 2
    by_memory = by_cores if memory_available is None else memory_available // BROWSER_MEMORY
    return max(1, min(by_cores, by_memory, MAX_DEFAULT_WORKERS))


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> float:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    return cores if quota == "max" else min(cores, int(quota) / int(period))


def available_memory(
    meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """Bytes new processes can have: MemAvailable, capped by a cgroup v2 limit; None: unknown."""
    found = None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            left = int(limit) - int((cgroup / "memory.current").read_text())
            found = left if found is None else min(found, left)
    except (OSError, ValueError):
        pass
    return found


def embedded_workers(settings: Settings) -> int:
    """MATF_EMBEDDED_WORKERS when set, else the machine's default."""
    if settings.matf_embedded_workers is not None:
        return settings.matf_embedded_workers
    return default_workers(usable_cores(), available_memory())
