"""Database servers: PostgreSQL 17 over TLS, open only to the servers that use it."""
from __future__ import annotations

from tests.testinfra.conftest import address, addresses, host_names, hosts_with, name_of, other_host, reachable

testinfra_hosts = hosts_with("database")


def test_postgresql_running(host):
    assert host.service("postgresql@17-main").is_running
    assert host.service("postgresql@17-main").is_enabled


def test_postgresql_serves_tls(host):
    assert host.run("sudo -u postgres psql -qAtX -c 'SHOW ssl'").stdout.strip() == "on"


def test_listens_on_its_address(host):
    own = address(name_of(host))
    assert host.socket(f"tcp://{own}:5432").is_listening


def test_marsad_database_exists(host):
    names = host.run("sudo -u postgres psql -qAtX -c 'SELECT datname FROM pg_database'").stdout.split()
    assert "marsad" in names


def test_pg_hba_allows_only_application_servers(host):
    hba = host.file("/etc/postgresql/17/main/pg_hba.conf").content_string
    allowed = {line.split()[3].split("/")[0] for line in hba.splitlines() if line.startswith("hostssl")}
    assert allowed <= set(addresses("portal") + addresses("worker") + addresses("keycloak"))
    assert not [line for line in hba.splitlines() if line.startswith("host ") and "0.0.0.0" in line]


def test_unreachable_from_servers_without_a_client_role(host):
    """PostgreSQL answers the application servers and nobody else (e.g. not the storage server)."""
    database = address(name_of(host))
    clients = set(addresses("portal") + addresses("worker") + addresses("keycloak") + addresses("database"))
    for name in host_names():
        other = other_host(name)
        expected = address(name) in clients
        assert reachable(other, database, 5432) is expected, f"{name} -> {database}:5432"

