"""The Celery side of MATF: one app, six queues, one thin task module per agent.

``celery -A tasks worker -Q executor`` finds the app in ``tasks/celery.py``.
Tasks decode primitives, open what they need, call one function in ``matf``,
and return a small JSON value.
"""
