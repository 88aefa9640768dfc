"""Reading the external yardsticks' reports (services.yardsticks); the tools themselves run against
a deployed lab with `make yardsticks ENV=lab` (their figures are in the deployment notes)."""
from __future__ import annotations

import pytest

from services import yardsticks
from services.yardsticks import Server, lynis_figures, ssh_audit_counts

# Shapes as Lynis 3 writes them: the report's key=value lines, the log's test and points lines.
LYNIS_REPORT = """\
# Lynis Report
hardening_index=77
warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|
warning[]=SSH-7408|MaxSessions could be lowered|-|-|
suggestion[]=FINT-4350|Install a file integrity tool|-|-|
"""
LYNIS_LOG = """\
2026-12-06 16:15:20 Performing test ID SSH-7408 (Check SSH specific defined options)
2026-12-06 16:15:20 Hardening: assigned partial number of hardening points (0 of 3). Currently having 2 points (out of 5)
2026-12-06 16:15:20 Hardening: assigned partial number of hardening points (1 of 3). Currently having 3 points (out of 8)
2026-12-06 16:15:21 Performing test ID FINT-4350 (File integrity software installed)
2026-12-06 16:15:21 Hardening: assigned partial number of hardening points (0 of 5). Currently having 3 points (out of 13)
2026-12-06 16:15:22 Performing test ID AUTH-9230 (Check group password hashing rounds)
2026-12-06 16:15:22 Hardening: assigned partial number of hardening points (2 of 2). Currently having 5 points (out of 15)
"""


def test_lynis_index_warnings_and_points_lost_per_test():
    index, warnings, lost = lynis_figures(LYNIS_REPORT, LYNIS_LOG)
    assert index == 77 and warnings == 2
    # Points add up per test; a test that gave all its points is not listed.
    assert lost == {"SSH-7408": 5, "FINT-4350": 5}


def test_lynis_report_without_an_index():
    index, warnings, lost = lynis_figures("# Lynis Report\n", "")
    assert index is None and warnings == 0 and lost == {}


def test_ssh_audit_counts_failures_cves_and_warnings():
    data = {
        "banner": {"raw": "SSH-2.0-OpenSSH_10.0p2"},
        "cves": [{"name": "CVE-2023-48795", "cvssv2": 5.9}],
        "kex": [{"algorithm": "mlkem768x25519-sha256", "notes": {"info": ["default"]}},
                {"algorithm": "diffie-hellman-group14-sha256", "notes": {"warn": ["2048-bit modulus"]}}],
        "key": [{"algorithm": "ssh-rsa", "notes": {"fail": ["SHA-1"], "warn": ["weak"]}}],
        "enc": [{"algorithm": "aes256-gcm@openssh.com", "notes": {}}],
        "mac": None,
    }
    assert ssh_audit_counts(data) == (2, 2)
    assert ssh_audit_counts({"banner": {"raw": "x"}, "kex": [], "cves": []}) == (0, 0)


FINDINGS = [
    {"id": "service", "severity": "INFO", "finding": "HTTP"},
    {"id": "SSLv3", "severity": "OK", "finding": "not offered"},
    {"id": "DNS_CAArecord", "severity": "LOW", "finding": "not offered"},
    {"id": "cert_chain_of_trust", "severity": "CRITICAL", "finding": "failed (self signed)."},
    {"id": "cert_revocation", "severity": "HIGH", "finding": "Neither CRL nor OCSP URI provided"},
    {"id": "BREACH", "severity": "MEDIUM", "finding": "potentially NOT ok"},
]


def test_testssl_self_signed_trust_findings_counted_apart_in_a_lab():
    counts, trust, high = yardsticks.testssl_counts(FINDINGS, self_signed=True)
    assert counts == {"LOW": 1, "MEDIUM": 1, "HIGH": 0, "CRITICAL": 0}
    assert [t.split()[0] for t in trust] == ["cert_chain_of_trust", "cert_revocation"]
    assert high == []


def test_testssl_trust_findings_count_with_an_operators_certificate():
    findings = FINDINGS + [{"id": "heartbleed", "severity": "CRITICAL"}]
    counts, trust, high = yardsticks.testssl_counts(findings, self_signed=False)
    assert counts == {"LOW": 1, "MEDIUM": 1, "HIGH": 1, "CRITICAL": 2} and trust == []
    assert high == ["cert_chain_of_trust (CRITICAL)", "cert_revocation (HIGH)", "heartbleed (CRITICAL)"]


def test_testssl_unfinished_scan_is_an_error_not_zero_findings():
    with pytest.raises(yardsticks.YardstickError, match="testssl.sh failed"):
        yardsticks.testssl_counts([{"id": "scanProblem", "severity": "FATAL", "finding": "Can't connect"}], self_signed=True)


def test_targets():
    server = Server("lab-app", "10.0.0.13", ["nginx"], ["ssh", "root@10.0.0.13"])
    server.lynis_index, server.ssh_fail, server.tls_high = 80, 0, []
    assert server.missed() == []
    server.lynis_index, server.ssh_fail, server.tls_high = 79, 1, ["heartbleed (CRITICAL)"]
    assert server.missed() == ["Lynis index 79 < 80", "ssh-audit: 1 failure(s)",
                               "testssl.sh HIGH/CRITICAL: heartbleed (CRITICAL)"]
    assert "missed" in yardsticks.table([server]).splitlines()[1]
