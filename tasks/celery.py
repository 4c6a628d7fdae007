"""The module ``celery -A tasks`` loads: the app built from the environment."""

from __future__ import annotations

from tasks.app import make_celery
from tasks.signals import connect_worker_signals

app = make_celery()
connect_worker_signals()
