"""The chaos benchmark (`make chaos`): issue 12's faults, each several times, and their table.

Every trial runs on loopback only: a private Redis, real prefork Celery
workers and Celery beat (tests/cluster.py), or an embedded `matf run`, against
the healthy demo site served by this process. See ``python -m bench.chaos -h``.
"""
