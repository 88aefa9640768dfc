"""The throwaway servers the suite relies on behave as the other tests assume."""

from __future__ import annotations

import glob
import os
import socket
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from minio.error import S3Error

from tests import servers
from tests.servers import PostgresServer, SeaweedServer, ServerBinaryMissing, free_ports


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_free_ports_are_distinct():
    ports = free_ports(8)
    assert len(set(ports)) == 8


def test_postgres_url_works_and_is_tuned_for_tests(postgres, postgres_url):
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            settings = dict(conn.execute(sqlalchemy.text(
                "select name, setting from pg_settings where name in "
                "('fsync', 'synchronous_commit', 'listen_addresses', 'server_encoding')"
            )).all())
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar() == "marsad"
    finally:
        engine.dispose()
    assert settings == {"fsync": "off", "synchronous_commit": "off",
                        "listen_addresses": "127.0.0.1", "server_encoding": "UTF8"}


def test_postgres_needs_the_password(postgres):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=postgres.port, user=postgres.user,
                        password="wrong", dbname="marsad", connect_timeout=5)


def test_postgres_create_database_is_isolated(postgres):
    url = postgres.create_database("isolated_one")
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("create table t (x int)"))
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar() == "isolated_one"
        engine.dispose()
    finally:
        postgres.drop_database("isolated_one")
    with pytest.raises(ValueError):
        postgres.create_database('x"; drop database marsad; --')


def test_postgres_stop_leaves_nothing():
    server = PostgresServer().start()
    base, port = server.base, server.port
    assert _listening(port)
    server.stop()
    assert not _listening(port)
    assert not base.exists()
    server.stop()  # twice is harmless


def test_s3_refuses_other_credentials(s3):
    from minio import Minio

    assert s3.client().list_buckets() is not None
    with pytest.raises(S3Error) as denied:
        Minio(s3.endpoint, s3.access_key, "not-the-secret", secure=False).list_buckets()
    assert denied.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")


def test_seaweed_stop_leaves_nothing():
    server = SeaweedServer().start()
    base, ports = server.base, dict(server.ports)
    assert server.startup_seconds < 60
    server.stop()
    assert not base.exists()
    assert not any(_listening(port) for port in ports.values())
    sockets = [p for p in glob.glob("/tmp/seaweedfs-*-grpc-*.sock")
               if int(p.rsplit("-", 1)[1].split(".")[0]) in ports.values()]
    assert sockets == []


def test_missing_programs_are_reported_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(servers.glob, "glob", lambda pattern: [])
    with pytest.raises(ServerBinaryMissing, match="make test-deps"):
        servers.find_weed()
    with pytest.raises(ServerBinaryMissing, match="make test-deps"):
        servers.find_postgres_bindir()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to hand PostgreSQL to another account")
def test_postgres_runs_unprivileged_under_root(postgres):
    assert postgres.os_user in (servers.TEST_OS_USER, "nobody")
    pid = int((Path(postgres.data_dir) / "postmaster.pid").read_text().split()[0])
    assert os.stat(f"/proc/{pid}").st_uid != 0
