"""``matf serve``: the API and dashboard under gunicorn, in either mode.

Threaded workers (gthread, as ``web.server.ProblemWorker``), because each live
WebSocket holds a thread.
Embedded mode (no ``REDIS_URL``) runs MATF's workers inside the server, so it
is one gunicorn process; distributed mode takes as many as you ask for.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import click

from matf.errors import UsageError
from matf.settings import Settings, load_settings


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 in a container).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: PORT, 3000)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="gunicorn processes (distributed: default 2; embedded: always 1).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="Threads per process (each live WebSocket holds one).",
)
def serve(host: str, port: int | None, workers: int | None, threads: int) -> None:
    """Serve the API, the dashboard and /ws with gunicorn."""
    settings = load_settings()
    if not settings.distributed and workers not in (None, 1):
        raise UsageError("embedded mode runs in one process: set REDIS_URL to use --workers")
    processes = workers or (2 if settings.distributed else 1)
    from web.server import server_options

    config: dict[str, Any] = {
        **server_options(),  # its own errors as problems, no forwarded headers, no control socket
        "bind": f"{host}:{port or settings.port}",
        "workers": processes,
        "threads": threads,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "matf-api",
    }
    if processes > 1:
        config["child_exit"], config["on_exit"] = _shared_metrics()
    from web import create_app

    create_app(settings)  # refuse bad settings here, in one line, not in every worker
    click.echo(
        f"MATF API and dashboard on http://{config['bind']} "
        f"({'distributed' if settings.distributed else 'embedded'} mode)",
        err=True,
    )
    _Gunicorn(settings, config).run()


def _shared_metrics() -> Any:
    """Let every gunicorn worker serve the HTTP metrics of all of them.

    prometheus_client's multiprocess mode keeps them in files under
    ``PROMETHEUS_MULTIPROC_DIR`` (its variable, set here for it when unset,
    before gunicorn forks and before prometheus_client is imported); a worker
    that exits is marked dead there.
    """
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = tempfile.mkdtemp(prefix="matf-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    # Only now: prometheus_client picks its value store when first imported.
    from prometheus_client import multiprocess

    def child_exit(_server: Any, worker: Any) -> None:
        multiprocess.mark_process_dead(worker.pid)

    def on_exit(_server: Any) -> None:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)

    return child_exit, on_exit


class _Gunicorn:
    """gunicorn's BaseApplication, built on demand so that importing this costs nothing."""

    def __init__(self, settings: Settings, config: dict[str, Any]) -> None:
        from gunicorn.app.base import BaseApplication

        outer = self

        class App(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in config.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                from web import create_app

                app = create_app(outer.settings)
                app.config["MATF_RUNTIME"].supervise()  # the run supervisor, in each worker
                app.config["MATF_RUNTIME"].schedule()  # embedded: the jobs beat sends otherwise
                return app

        self.settings = settings
        self._app = App()

    def run(self) -> None:
        self._app.run()
