"""Every server: firewall, SSH hardening, time, updates, administrators."""
from __future__ import annotations

import pytest

from tests.testinfra.conftest import hosts_with, variables

testinfra_hosts = hosts_with()


def test_no_failed_units(host):
    assert host.run("systemctl --failed --no-legend --plain").stdout.strip() == ""


def test_firewall_drops_by_default(host):
    ruleset = host.run("nft list chain inet filter input").stdout
    assert "policy drop" in ruleset
    assert host.service("nftables").is_enabled


def test_ssh_only_with_keys(host):
    config = host.run("sshd -T").stdout.lower()
    assert "passwordauthentication no" in config
    assert "kbdinteractiveauthentication no" in config
    assert "permitrootlogin without-password" in config or "permitrootlogin no" in config
    ciphers = next(line for line in config.splitlines() if line.startswith("ciphers ")).split()[1].split(",")
    assert not [c for c in ciphers if "cbc" in c or "3des" in c]
    kex = next(line for line in config.splitlines() if line.startswith("kexalgorithms ")).split()[1]
    assert "diffie-hellman-group14-sha1" not in kex and "ecdh-sha2-nistp256" not in kex


def test_ssh_configuration_is_valid(host):
    assert host.run("sshd -t").rc == 0


def test_security_updates_automatic(host):
    assert host.package("unattended-upgrades").is_installed
    periodic = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'Unattended-Upgrade "1"' in periodic


def test_time_zone(host):
    assert host.file("/etc/timezone").content_string.strip() == variables().get("marsad_timezone", "Africa/Tunis")


def test_servers_know_each_other_by_name(host):
    hosts = host.file("/etc/hosts").content_string
    assert "Marsad servers" in hosts


@pytest.mark.parametrize("setting", ["net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.all.send_redirects"])
def test_network_sysctls(host, setting):
    assert f"{setting} = 0" in host.file("/etc/sysctl.d/60-marsad-hardening.conf").content_string
    if host.file("/run/systemd/container").exists:
        pytest.skip("a container: /proc/sys is the host's (read-only); applied on real servers")
    assert host.sysctl(setting) == 0


def test_file_integrity_database_and_daily_check(host):
    database = host.file("/var/lib/aide/aide.db")
    assert database.exists and database.size > 0
    assert host.service("dailyaidecheck.timer").is_enabled
    # Data that changes by design is left out, or every daily check would report it.
    assert "!/var/lib/postgresql" in host.file("/etc/aide/aide.conf.d/99_marsad_exclude").content_string


def test_failed_ssh_logins_are_banned(host):
    assert host.service("fail2ban").is_running
    jail = host.run("fail2ban-client status sshd")
    assert jail.rc == 0 and "Currently banned" in jail.stdout
    # The deployment's own servers are never banned.
    ignored = host.run("fail2ban-client get sshd ignoreip").stdout
    assert all(address in ignored for addresses in variables()["marsad_addresses"].values() for address in addresses)
