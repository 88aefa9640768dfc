"""Worker servers: the jobs' timers (on the first worker server), and a job that runs."""
from __future__ import annotations

import pytest

from tests.testinfra.conftest import host_names, hosts_with, name_of

testinfra_hosts = hosts_with("worker")


@pytest.fixture
def first_worker(host):
    if name_of(host) != host_names("worker")[0]:
        pytest.skip("jobs marked `once` run on the first worker server only")
    return host


@pytest.mark.parametrize("timer", ["marsad-indicators-refresh.timer", "marsad-audit-verify.timer"])
def test_job_timers_active(first_worker, timer):
    assert first_worker.service(timer).is_enabled
    assert first_worker.service(timer).is_running


def test_a_job_runs(first_worker):
    assert first_worker.run("systemctl start marsad-audit-verify.service").rc == 0
    result = first_worker.run("systemctl show -p Result --value marsad-audit-verify.service").stdout.strip()
    assert result == "success"
