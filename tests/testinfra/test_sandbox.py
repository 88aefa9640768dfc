"""Sandbox servers: the sandboxes' folder, command, portal unit and nginx include.

A sandbox made, served over TLS, reset and destroyed on these servers: tests/test_lab.py.
"""
from __future__ import annotations

from tests.testinfra.conftest import hosts_with

testinfra_hosts = hosts_with("sandbox")


def test_sandboxes_folder_is_the_marsad_users_only(host):
    folder = host.file("/srv/marsad-sandboxes")
    assert folder.is_directory and folder.user == "marsad" and folder.mode == 0o700


def test_command_for_root_only(host):
    command = host.file("/usr/local/sbin/marsad-sandbox")
    assert command.user == "root" and command.mode == 0o750
    assert host.run("/usr/local/sbin/marsad-sandbox list").rc == 0


def test_portal_unit_is_confined_to_its_sandbox(host):
    unit = host.run("systemctl cat marsad-sandbox@probe.service").stdout
    assert "User=marsad" in unit and "ReadWritePaths=/srv/marsad-sandboxes/%i" in unit   # the template, unexpanded
    assert "--bind 127.0.0.1:${MARSAD_SANDBOX_PORT}" in unit


def test_nginx_includes_the_sandbox_locations(host):
    site = host.file("/etc/nginx/sites-available/marsad").content_string
    assert "include /etc/nginx/marsad-sandboxes/*.conf;" in site
    assert host.file("/etc/nginx/marsad-sandboxes").is_directory


def test_pdf_credentials_can_be_drawn(host):
    # WeasyPrint (a pinned dependency) needs Pango from Debian for the PDF credentials sheet.
    result = host.run("/opt/marsad/venv/bin/python -c 'import weasyprint'")
    assert result.rc == 0, result.stderr
