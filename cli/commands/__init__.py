"""Command groups of the ``matf`` command line, one module per concept.

``cli.lazy`` registers them; each reads its settings with ``load_settings()``
and raises ``MatfError``s, which ``cli.main.main`` turns into one line and an
exit code.
"""
