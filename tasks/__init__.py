"""The Celery side of MATF: one app, six queues, one thin task module per agent.

``celery -A tasks worker -Q executor`` finds the app in ``tasks/celery.py``.
Tasks decode their message (a run id, or one typed ``ExecutorJob``), open what
they need, call one entry point of ``matf.pipeline`` (or an agent), and return
a small JSON value. The command line and the API reach all of this through
``tasks.control`` alone.
"""
