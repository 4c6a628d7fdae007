"""The bundled demo shop ("Acme Outfitters") that MATF tests itself against.

``create_app(bugs=True)`` in :mod:`matf.demo.app` builds the Flask site with
deliberately seeded bugs (listed in :mod:`matf.demo.bugs`); ``bugs=False``
serves the same site without them. :mod:`matf.demo.server` runs it in a
background thread for tests and benchmarks. This package file imports
nothing, so reading ``matf.demo.bugs`` never pulls in Flask.
"""
