"""The ``matf`` command line: the composition root of the whole system.

It is the one package that wires everything together: it reads the settings,
builds run options, and reaches the agents through ``tasks.control`` and the
API through ``web``. Nothing imports it.
"""
