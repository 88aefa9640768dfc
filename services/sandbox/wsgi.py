"""WSGI entry of one sandbox's portal, for a production-grade server:

    env $(marsad-sandbox-environment) gunicorn -k gthread --threads 4 'services.sandbox.wsgi:app'

The process must run with the sandbox's environment (services.sandbox.environ: MARSAD_ENV=sandbox,
MARSAD_SANDBOX=<name>, its database and store); create_sandbox_app refuses any other.
"""
from __future__ import annotations

from portal.progress import create_sandbox_app
from services.config import SandboxEnv, section
from services.sandbox.layout import load

app = create_sandbox_app(load(section(SandboxEnv).sandbox))
