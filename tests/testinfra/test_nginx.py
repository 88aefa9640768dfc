"""Web front: TLS served (modern protocols only), security headers, the portal through nginx."""
from __future__ import annotations

import socket
import ssl

import pytest

from tests.testinfra.conftest import address, host_names, hosts_with, name_of, other_host, reachable, variables

testinfra_hosts = hosts_with("nginx")


def _curl(host, path: str, *options: str) -> str:
    domain = variables()["marsad_domain"]
    return host.run(f"curl -sk {' '.join(options)} --resolve {domain}:443:127.0.0.1 https://{domain}{path}").stdout


def test_nginx_running(host):
    assert host.service("nginx").is_running
    assert host.service("nginx").is_enabled


def test_http_redirects_to_https(host):
    headers = host.run("curl -sI http://127.0.0.1/").stdout.lower()
    assert "301" in headers.splitlines()[0]
    assert "location: https://" in headers


def test_health_through_nginx(host):
    assert '"status":"ok"' in _curl(host, "/healthz").replace(" ", "")


def test_login_page_through_nginx(host):
    page = _curl(host, "/login")
    assert "<form" in page and 'type="password"' in page


def test_security_headers(host):
    headers = _curl(host, "/login", "-I").lower()
    for header in ("strict-transport-security", "x-content-type-options: nosniff", "x-frame-options",
                   "content-security-policy", "referrer-policy"):
        assert header in headers, header
    assert "server: nginx\r" in headers or "server: nginx\n" in headers  # no version


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_served_from_the_control_machine(host, version):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE   # labs use a self-signed certificate
    context.minimum_version = context.maximum_version = version
    with socket.create_connection((address(name_of(host)), 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=variables()["marsad_domain"]) as tls:
            assert tls.version() == version.name.replace("v1_", "v1.")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_refused(host, version):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.minimum_version = context.maximum_version = version
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip(f"this machine's OpenSSL cannot even offer {version.name}")
    with socket.create_connection((address(name_of(host)), 443), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname=variables()["marsad_domain"])


def test_portal_port_closed_to_other_servers(host):
    own = address(name_of(host))
    for name in host_names():
        if address(name) == own:
            continue
        other = other_host(name)
        assert not reachable(other, own, 8000), f"{name} reaches gunicorn on {own}:8000"
