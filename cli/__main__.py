"""``python -m cli``: the ``matf`` command."""

from cli.main import main

main()
