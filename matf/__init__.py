"""MATF, the Multi-Agent Testing Framework.

``matf`` holds the domain logic as plain typed Python: specs, browsers, the
agents' work, storage and reports. It imports neither Celery nor Flask; the
Celery tasks in ``tasks/`` are thin wrappers around it.
"""

__version__ = "0.1.0"
