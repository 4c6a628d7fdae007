"""The bundled demo shop ("Acme Outfitters") that MATF tests itself against.

``create_app(bugs=True)`` in :mod:`demo.app` builds the Flask site with
deliberately seeded bugs (listed in :mod:`demo.bugs`); ``bugs=False``
serves the same site without them. :mod:`demo.server` runs it in a
background thread for tests and benchmarks. This package file imports
nothing, so reading ``demo.bugs`` never pulls in Flask.
"""
