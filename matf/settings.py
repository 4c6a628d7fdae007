"""One typed settings object, read once from the environment (and ``.env``).

Names and defaults come from the operations guide. Nothing else in MATF reads
``os.environ``: the composition roots (CLI, Celery app, API) call
``load_settings()`` once and pass the result down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matf.errors import ConfigError

BrowserName = Literal["chromium", "firefox", "webkit"]

# The feature flag that turns each test type on (functional tests are always on).
TYPE_FLAGS = {
    "accessibility": "enable_accessibility_testing",
    "performance": "enable_performance_testing",
    "visual": "enable_visual_regression",
    "api": "enable_api_testing",
}


DEFAULT_ENGINE_LIMITS = {"chromium": 3, "firefox": 2, "webkit": 1}

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INTERVAL_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_interval(text: str | int | float) -> float:
    """``"1h"``, ``"5m"``, ``"1h30m"``, ``"90s"``, ``"1d"`` or plain seconds, in seconds.

    ValueError naming the text when it is not one of those or under one second.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", value):
            seconds = float(value)
        elif value and re.fullmatch(f"(?:{_INTERVAL_PART.pattern})+", value):
            seconds = sum(float(n) * _UNITS[u] for n, u in _INTERVAL_PART.findall(value))
        else:
            raise ValueError(f"{text!r} is not an interval such as 30s, 5m, 1h, 1d or 1h30m")
    if seconds < 1:
        raise ValueError(f"{text!r} is under one second")
    return seconds


def parse_engine_limits(text: str) -> dict[str, int]:
    """``"chromium:3,firefox:2,webkit:1"`` as a dict; ValueError naming a bad entry."""
    limits: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition(":")
        name = name.strip().lower()
        if name not in DEFAULT_ENGINE_LIMITS or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"{item!r} is not ENGINE:COUNT with chromium, firefox or webkit")
        limits[name] = int(count)
    return limits


def llm_cost_usd(
    prompt_tokens: float, completion_tokens: float, prices: tuple[float, float]
) -> float:
    """What the model's tokens cost at ``prices`` (USD per million prompt, completion tokens)."""
    per_prompt, per_completion = prices
    return (prompt_tokens * per_prompt + completion_tokens * per_completion) / 1e6


class Settings(BaseSettings):
    """Every setting MATF knows, with the environment variable that sets it."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    port: int = Field(3000, ge=1, le=65535)
    ws_port: int = Field(3001, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    redis_url: str | None = None
    database_url: str = "sqlite:///data/framework.db"
    storage_path: Path = Path("data/storage")
    backup_path: Path = Path("data/backups")

    mistral_api_key: str | None = None
    mistral_model: str = "mistral-large-latest"
    mistral_max_tokens: int = Field(4000, ge=1)
    mistral_temperature: float = Field(0.1, ge=0, le=2)
    mistral_server_url: str | None = Field(
        None, description="another endpoint: a proxy, a self-hosted deployment"
    )
    mistral_timeout_ms: int = Field(60_000, ge=1000, description="per request")
    mistral_retries: int = Field(3, ge=0, le=10, description="on 429 and 5xx, with backoff")
    mistral_price_input: float = Field(
        2.0, ge=0, description="USD per million prompt tokens, for cost estimates"
    )
    mistral_price_output: float = Field(
        6.0, ge=0, description="USD per million completion tokens, for cost estimates"
    )
    mistral_rate_per_minute: int = Field(
        60, ge=1, description="requests per minute across all writer workers"
    )

    jwt_secret: str | None = None
    api_key: str | None = None
    encryption_key: str | None = None
    # Not used by MATF: the deployment's other secrets, which share its env file
    # (docker-compose.prod.yml), so that production refuses to start on their placeholders.
    redis_password: str | None = Field(None, description="Redis' requirepass (compose)")
    flower_basic_auth: str | None = Field(None, description="Flower's user:password (compose)")
    grafana_admin_password: str | None = Field(None, description="Grafana's admin (compose)")

    max_concurrent_tests: int = Field(10, ge=1)
    test_timeout: int = Field(300_000, ge=100, description="per-test timeout, ms")
    step_timeout: int = Field(15_000, ge=100, description="per-step timeout, ms")
    test_retries: int = Field(2, ge=0, le=10)
    browser_pool_size: int = Field(5, ge=1)
    worker_soft_shutdown_timeout: float = Field(
        330,
        ge=0,
        description="seconds a stopping worker lets its running tasks finish before it "
        "re-queues them (Celery's soft shutdown; with REMAP_SIGTERM=SIGQUIT, on SIGTERM)",
    )
    max_pages: int = Field(25, ge=1)
    artifact_transport: Literal["message", "shared"] = Field(
        "message",
        description="distributed mode: 'message' ships screenshots, captures and baselines "
        "in the messages (executors need no shared disk); 'shared' when every worker mounts "
        "one STORAGE_PATH (ReadWriteMany)",
    )
    artifact_message_mb: int = Field(
        20, ge=0, le=500, description="the most artifact bytes one test's result carries, MB"
    )

    enable_accessibility_testing: bool = True
    enable_performance_testing: bool = True
    enable_visual_regression: bool = True
    enable_api_testing: bool = True
    enable_healing: bool = Field(
        True, description="propose new locators for tests whose element is gone (reviewed)"
    )
    browser_pool: str = Field(
        "chromium:3,firefox:2,webkit:1",
        description="tests of each engine one executor process runs at once",
    )

    matf_env: Literal["development", "production", "test"] = "development"
    matf_allowed_targets: str = Field(
        "", description="hosts and CIDRs the API may test although they are private"
    )
    matf_proxy_count: int = Field(0, ge=0, le=5, description="reverse proxies in front of the API")
    rate_limit: str = Field("100 per 15 minutes", description="per client, flask-limiter syntax")
    matf_metrics_token: str | None = Field(
        None, min_length=16, description="bearer token GET /metrics asks for; unset: open"
    )
    jwt_expiry_hours: int = Field(24, ge=1, le=24 * 30)
    login_account_failures: int = Field(
        5, ge=1, le=1000, description="failed sign-ins for one account before waits start"
    )
    login_address_failures: int = Field(
        30, ge=1, le=100_000, description="failed sign-ins from one address before waits start"
    )
    login_backoff_base: float = Field(
        1.0, gt=0, le=3600, description="seconds of the first wait; each failure doubles it"
    )
    login_backoff_max: int = Field(900, ge=1, le=7 * 86400, description="longest wait, seconds")
    login_failure_window: int = Field(
        900, ge=1, le=7 * 86400, description="seconds after the last wait that failures count"
    )

    matf_chromium_path: Path | None = None
    matf_embedded_workers: int | None = Field(
        None, ge=1, le=64, description="embedded executors; unset: chosen from cores and memory"
    )
    matf_run_timeout: int = Field(3600, ge=1, description="seconds a run may take")
    # The scheduled work (Celery beat, or ``matf serve`` in-process): the guide's defaults.
    optimizer_interval: str = Field("1h", description="how often the optimizer reads history")
    optimization_threshold: float = Field(
        0.8, gt=0, le=1, description="flakiness score from which a quarantine is proposed"
    )
    historical_data_days: int = Field(30, ge=1, le=3650, description="history the optimizer reads")
    backup_interval: str = Field("5m", description="how often the database is backed up")
    backup_keep: int = Field(14, ge=1, le=10_000, description="newest backups kept")
    log_retention_days: int = Field(
        30, ge=1, le=36_500, description="runs, events and artifacts older than this are deleted"
    )
    retention_interval: str = Field("1d", description="how often retention runs")
    session_timeout: str = Field(
        "1h", description="how long a sign-in's sealed session state is reused"
    )

    matf_report_pdf_timeout: int = Field(
        120, ge=1, le=3600, description="seconds printing report.pdf may take; over it, skipped"
    )

    @field_validator("browser_pool")
    @classmethod
    def _pool(cls, value: str) -> str:
        parse_engine_limits(value)
        return value

    @field_validator(
        "optimizer_interval", "backup_interval", "retention_interval", "session_timeout"
    )
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_interval(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("matf_env", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator(
        "redis_url",
        "mistral_api_key",
        "mistral_server_url",
        "api_key",
        "jwt_secret",
        "encryption_key",
        "matf_metrics_token",
        "redis_password",
        "flower_basic_auth",
        "grafana_admin_password",
        "matf_embedded_workers",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def distributed(self) -> bool:
        """True when a Redis broker is configured: workers run as separate pools."""
        return self.redis_url is not None

    @property
    def allowed_targets(self) -> list[str]:
        """``MATF_ALLOWED_TARGETS`` as a list of hosts and CIDRs."""
        return [item.strip() for item in self.matf_allowed_targets.split(",") if item.strip()]

    def interval_s(self, name: str) -> float:
        """One of the ``*_interval`` settings in seconds (validated at start)."""
        return parse_interval(getattr(self, f"{name}_interval"))

    @property
    def llm_prices(self) -> tuple[float, float]:
        """``MISTRAL_PRICE_INPUT`` and ``MISTRAL_PRICE_OUTPUT``, for ``llm_cost_usd``."""
        return self.mistral_price_input, self.mistral_price_output

    @property
    def session_timeout_s(self) -> float:
        """``SESSION_TIMEOUT`` in seconds (validated at start)."""
        return parse_interval(self.session_timeout)

    @property
    def engine_limits(self) -> dict[str, int]:
        """``BROWSER_POOL`` as a dict, engine to count."""
        return {**DEFAULT_ENGINE_LIMITS, **parse_engine_limits(self.browser_pool)}

    def type_enabled(self, kind: str) -> str | None:
        """None when tests of ``kind`` may run; else why not, naming the flag."""
        flag = TYPE_FLAGS.get(kind)
        if flag is None or getattr(self, flag):
            return None
        return f"{kind} testing is turned off ({flag.upper()}=false)"

    def check_types(self, kinds: list[str]) -> None:
        """Raise a one-line UsageError for the first asked type whose flag is off."""
        from matf.errors import UsageError

        for kind in kinds:
            reason = self.type_enabled(kind)
            if reason is not None:
                raise UsageError(reason)

    @property
    def executor_time_limit_s(self) -> int:
        """Hard time limit of one executor task: every attempt plus set-up."""
        return (self.test_timeout // 1000 + 1) * (self.test_retries + 1) + 60


def load_settings(**overrides: object) -> Settings:
    """Read the settings, failing with one line that names the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"invalid {name}: {err['msg']}") from exc
