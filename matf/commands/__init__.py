"""Command groups of the ``matf`` command line, one module per concept.

``matf.cli`` registers them; each reads its settings with ``load_settings()``
and raises ``MatfError``s, which ``matf.cli.main`` turns into one line and an
exit code.
"""
