"""The WSGI entry point for gunicorn: ``gunicorn 'web.wsgi:app'``.

``matf serve`` is the way to run it: it also sets what ``web.server`` says
(problem answers for gunicorn's own refusals, no forwarded headers trusted
past ``MATF_PROXY_COUNT``, no control socket). By hand, that is
``-k web.server.ProblemWorker --forwarded-allow-ips '' --no-control-socket``.
"""

from __future__ import annotations

from web import create_app

app = create_app()
