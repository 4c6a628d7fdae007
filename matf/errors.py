"""The one error tree of MATF.

Every error a user can meet is a ``MatfError``; its class says how it surfaces:
``exit_code`` for the command line, ``http_status`` for the API, ``retryable``
for tasks (transient errors retry with backoff, permanent ones fail fast).
Constructors take a message only, so errors survive Celery's serialisation.

    MatfError
    ├── UsageError              bad arguments, bad URL            exit 2
    │   └── LoginUnusable       no credentials secret, a sign-in  HTTP 422
    │                           page on another origin
    ├── ConfigError             a bad setting in the environment  exit 2
    ├── SpecError               a spec or suite fails validation  exit 2
    ├── EnvironmentProblem      no browser, no Redis, no workers  exit 2
    ├── TargetError             the target can't be tested        exit 2
    │   ├── TargetUnreachable   DNS, refused, timeout             (retryable)
    │   ├── TargetForbidden     an internal address, refused      (server mode)
    │   └── SignInFailed        the site's sign-in refused MATF   (a reason)
    ├── RunError                a run failed on the way           exit 2
    │   ├── RunNotFound
    │   ├── RunTimeout          the run did not finish in time
    │   └── ReportsUnwritable   the reports' folder refused them
    ├── AuthError               no valid credentials              HTTP 401
    ├── Forbidden               a role that may not do it         HTTP 403
    ├── NotFound                no such suite, case, user, key    HTTP 404
    ├── Conflict                exists already, or the last admin HTTP 409
    └── TooManyAttempts         failed sign-ins: wait and retry   HTTP 429
"""

from __future__ import annotations


class MatfError(Exception):
    """Base of every error MATF raises on purpose."""

    exit_code: int = 2
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MatfError):
    """The user asked for something that cannot be done as asked."""

    http_status = 400


class LoginUnusable(UsageError):
    """A run asked to sign in with what cannot work: no credentials secret, a page elsewhere.

    Found before anything runs, without a browser; the request was well formed,
    what it names is not usable (422, as a refused target).
    """

    http_status = 422


class ConfigError(MatfError):
    """A setting (environment variable or ``.env``) has a bad value."""

    http_status = 503  # the server is misconfigured: not the client's fault, not a bug


class SpecError(MatfError):
    """A test spec or suite does not match the spec schema."""

    http_status = 422


class EnvironmentProblem(MatfError):
    """Something MATF needs on this machine is missing: a browser, a broker, workers."""

    http_status = 503


class TargetError(MatfError):
    """The target site cannot be tested: bad answer on its first page."""

    http_status = 422


class TargetUnreachable(TargetError):
    """The target did not answer at all: DNS, connection refused, timeout."""

    retryable = True


class TargetForbidden(TargetError):
    """The target resolves to an address a guarded run may not reach (loopback, private...)."""


class SignInFailed(TargetError):
    """Signing in to the target failed: wrong credentials, no form, a CAPTCHA, a second factor.

    The message is one line that never holds the password; ``reason`` (set on
    the instance) is the short code a run records.
    """

    reason: str = "failed"


class RunError(MatfError):
    """A run failed on the way."""


class RunNotFound(RunError):
    """No run has that id."""

    http_status = 404


class RunTimeout(RunError):
    """A run did not finish within the time allowed."""

    http_status = 504


class ReportsUnwritable(RunError):
    """The run's reports could not be written where it asked for them."""


class AuthError(MatfError):
    """No valid credentials: missing, expired, forged or revoked."""

    http_status = 401


class Forbidden(MatfError):
    """Valid credentials whose role does not allow the action."""

    http_status = 403


class NotFound(MatfError):
    """No suite, test case, user or key has that id."""

    http_status = 404


class Conflict(MatfError):
    """The state forbids it: the thing to create exists, or it would remove the last admin."""

    http_status = 409


class TooManyAttempts(MatfError):
    """Too many failed sign-ins for an account or from an address: retry after a wait."""

    http_status = 429
    retry_after_s: int = 1  # set on the instance: constructors take a message only
