"""Portal servers: the virtualenv, gunicorn under systemd, migrations applied, health."""
from __future__ import annotations

import json

from tests.testinfra.conftest import hosts_with

testinfra_hosts = hosts_with("portal")


def test_portal_running(host):
    assert host.service("marsad-portal").is_running
    assert host.service("marsad-portal").is_enabled


def test_runs_as_marsad_not_root(host):
    users = set(host.run("ps -o user= -C gunicorn").stdout.split())
    assert users == {"marsad"}


def test_gunicorn_on_loopback(host):
    assert host.socket("tcp://127.0.0.1:8000").is_listening


def test_health(host):
    body = host.run("curl -sf http://127.0.0.1:8000/healthz").stdout
    assert json.loads(body) == {"status": "ok", "database": "ok"}


def test_database_at_head(host):
    result = host.run("/usr/local/sbin/marsad db upgrade")
    assert result.rc == 0
    assert result.stdout.strip().splitlines()[-1].startswith("database at head")


def test_secrets_not_world_readable(host):
    config = host.file("/etc/marsad/marsad.env")
    assert config.mode & 0o007 == 0
    assert config.group == "marsad"
