"""The module ``celery -A tasks`` loads: the app built from the environment.

A bad setting stops the worker or beat here with the one line that names it
(``invalid BACKUP_INTERVAL: ...``), not Celery's traceback of the import. In
production (``MATF_ENV=production``) so does a missing, weak or placeholder
secret, as it stops the API: a worker holds the same keys.
"""

from __future__ import annotations

import sys

from matf.errors import ConfigError
from matf.secrets.production import check_production
from tasks.app import make_celery, settings_of
from tasks.signals import connect_worker_signals

try:
    app = make_celery()
    check_production(settings_of(app))
except ConfigError as exc:
    print(f"matf: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
connect_worker_signals()
