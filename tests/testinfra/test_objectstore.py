"""Object store servers: SeaweedFS under systemd, S3 over TLS to its clients only."""
from __future__ import annotations

from tests.testinfra.conftest import address, addresses, host_names, hosts_with, name_of, other_host, reachable

testinfra_hosts = hosts_with("objectstore")


def test_seaweedfs_running(host):
    assert host.service("seaweedfs").is_running
    assert host.service("seaweedfs").is_enabled


def test_s3_over_tls(host):
    own = address(name_of(host))
    result = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /etc/seaweedfs/tls/s3.crt https://{own}:8333/")
    assert result.stdout in ("403", "200")


def test_master_volume_filer_on_loopback_only(host):
    for port in (9333, 8080, 8888):
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_a_bucket_per_institution(host):
    buckets = host.run("echo s3.bucket.list | weed shell -master=127.0.0.1:9333").stdout
    for bucket in ("marsad-onm", "marsad-ins", "marsad-backup"):
        assert bucket in buckets


def test_s3_reachable_only_from_clients(host):
    storage = address(name_of(host))
    clients = set(addresses("portal") + addresses("worker") + addresses("backup") + addresses("objectstore")
                  + addresses("restore_drill"))
    for name in host_names():
        other = other_host(name)
        assert reachable(other, storage, 8333) is (address(name) in clients), f"{name} -> {storage}:8333"
        if address(name) != storage:
            assert not reachable(other, storage, 9333), f"{name} reaches the SeaweedFS master"
