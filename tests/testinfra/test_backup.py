"""Backup: WAL archived and a full backup in the object store (pgBackRest), timers on."""
from __future__ import annotations

import json

from tests.testinfra.conftest import hosts_with

testinfra_hosts = hosts_with("backup")


def _info(host) -> dict:
    result = host.run("sudo -u postgres pgbackrest --stanza=marsad --output=json info")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


def test_a_backup_is_present(host):
    info = _info(host)
    assert info["status"]["code"] == 0, info["status"]["message"]
    assert any(b["type"] == "full" for b in info["backup"])


def test_repository_is_encrypted(host):
    assert _info(host)["cipher"] == "aes-256-cbc"


def test_wal_archiving_works(host):
    assert host.run("sudo -u postgres pgbackrest --stanza=marsad check").rc == 0
    assert host.run("sudo -u postgres psql -qAtX -c 'SHOW archive_mode'").stdout.strip() == "on"


def test_backup_timers(host):
    for timer in ("pgbackrest-full.timer", "pgbackrest-diff.timer"):
        assert host.service(timer).is_enabled
        assert host.service(timer).is_running


def test_configuration_holds_secrets_privately(host):
    config = host.file("/etc/pgbackrest.conf")
    assert config.user == "postgres" and config.mode == 0o600
