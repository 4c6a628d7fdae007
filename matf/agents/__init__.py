"""The agents' work, one module each; the Celery tasks in ``tasks/`` call into these.

context (prepare a target), writer (explore and write specs), executor (run one
spec in one browser), reporter (store results, write reports), optimizer
(learn from history) and logger (persist events).
"""

AGENTS = ("context", "writer", "executor", "reporter", "optimizer", "logger")
