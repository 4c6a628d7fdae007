"""Target-site credentials, encrypted at rest with AES-256-GCM under ``ENCRYPTION_KEY``.

Sites behind a login need a username and password; they must never be readable
from a database dump, the API, logs, reports or prompts. ``keyring`` seals and
opens values under the keys of ``ENCRYPTION_KEY``; ``store`` keeps each
target's secrets by origin and name; ``placeholders`` finds the
``{{secret:NAME}}`` a spec refers to and fills them in at execution only;
``production`` refuses to start with a weak ``JWT_SECRET`` or ``ENCRYPTION_KEY``.
"""
