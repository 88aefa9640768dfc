"""External yardsticks of a deployed environment: Lynis, ssh-audit, testssl.sh.

`marsad hardware yardsticks ENV` (`make yardsticks ENV=lab`) measures the servers of ENV with
three tools nobody in this project wrote, and keeps their raw reports in
``var/yardsticks/ENV/<server>/``:

- Lynis (``lynis audit system --quick``) on each server, over SSH, for its hardening index.
  Lynis is not installed on the servers: its Debian package is fetched with the server's own
  apt (``apt-get download``, through the lab's proxy or the environment's mirror), unpacked in
  a temporary folder, run from there and removed.
- ssh-audit on the control machine against each server's SSH port: failures and warnings.
- testssl.sh on the control machine against the portal's HTTPS (the nginx servers, port 443):
  findings by severity. A lab's certificate is self-signed: its chain-of-trust finding is
  counted apart, not as a missed target.

Targets (the deployment issue): Lynis index 80 or more, no ssh-audit failure, no HIGH or
CRITICAL testssl.sh finding. Every measure is taken even when an earlier one misses.
"""
from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from services import deployment, hardware

LYNIS_TARGET = 80
# Debian's packages on the control machine (like hardware/lab-deps.sh).
CONTROL_PACKAGES = ("ssh-audit", "testssl.sh")
# bookworm's ssh-audit (2.5.0) misreads OpenSSH 10 (old CVEs, "unknown" post-quantum key
# exchanges): below this version, trixie's release is installed from PyPI into var/yardsticks/tools.
SSH_AUDIT_MINIMUM = (3, 3)
SSH_AUDIT_PIN = "ssh-audit==3.3.0"
# testssl.sh's findings that follow from a certificate no authority signed (a lab's self-signed
# one): the chain of trust, and no CRL or OCSP address (only an authority publishes those).
TRUST_FINDINGS = ("cert_chain_of_trust", "cert_revocation")

# Runs on a server (sh, as root): Lynis from its Debian package, unpacked in a temporary folder
# laid out as Lynis' own tarball, then removed; the reports come back as a tar on stdout.
LYNIS_SCRIPT = r"""
set -eu
d=$(mktemp -d /var/tmp/marsad-lynis.XXXXXX)
trap 'rm -rf "$d"' EXIT
cd "$d"
apt-get download -q lynis >apt.txt 2>&1 || { cat apt.txt >&2; exit 3; }
dpkg-deb -x lynis_*.deb pkg
mkdir lynis
cp pkg/usr/sbin/lynis lynis/
cp -r pkg/usr/share/lynis/include pkg/usr/share/lynis/db pkg/etc/lynis/plugins pkg/etc/lynis/default.prf lynis/
cd lynis
sh ./lynis audit system --quick --no-colors --logfile "$d/lynis.log" --report-file "$d/lynis-report.dat" \
  >"$d/lynis.txt" 2>&1 || echo "lynis exited with $?" >>"$d/lynis.txt"
tar -C "$d" -cf - lynis-report.dat lynis.log lynis.txt
"""


class YardstickError(Exception):
    pass


@dataclass
class Server:
    name: str
    address: str
    roles: list[str]
    ssh: list[str]  # the ssh command up to and including user@address
    ssh_port: int = 22
    lynis_index: int | None = None
    lynis_warnings: int = 0
    lynis_lost: dict[str, int] = field(default_factory=dict)  # Lynis test -> hardening points not given
    ssh_fail: int | None = None
    ssh_warn: int | None = None
    tls: dict[str, int] | None = None  # severity -> count (trust findings apart)
    tls_trust: list[str] = field(default_factory=list)
    tls_high: list[str] = field(default_factory=list)  # ids of HIGH and CRITICAL findings
    errors: list[str] = field(default_factory=list)

    def missed(self) -> list[str]:
        out = list(self.errors)
        if self.lynis_index is not None and self.lynis_index < LYNIS_TARGET:
            out.append(f"Lynis index {self.lynis_index} < {LYNIS_TARGET}")
        if self.ssh_fail:
            out.append(f"ssh-audit: {self.ssh_fail} failure(s)")
        if self.tls_high:
            out.append(f"testssl.sh HIGH/CRITICAL: {', '.join(self.tls_high)}")
        return out


# --- the control machine's tools -------------------------------------------------------------


def _installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in status.stdout


def control_tools(tools_dir: Path, log=print) -> dict[str, str]:
    """Install ssh-audit and testssl.sh when missing (Debian packages, as root); their commands."""
    missing = [p for p in CONTROL_PACKAGES if not _installed(p)]
    if missing:
        if os.geteuid() != 0:
            raise YardstickError(f"missing Debian package(s) {' '.join(missing)}; run as root or install them")
        log(f"yardsticks: installing {' '.join(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    ssh_audit = shutil.which("ssh-audit")
    if not testssl or not ssh_audit:
        raise YardstickError("ssh-audit or testssl.sh not found after installing their packages")
    head = subprocess.run([ssh_audit, "-h"], capture_output=True, text=True).stdout
    found = re.search(r"ssh-audit v(\d+)\.(\d+)", head)
    if not found or tuple(map(int, found.groups())) < SSH_AUDIT_MINIMUM:
        ssh_audit = str(tools_dir / "bin" / "ssh-audit")
        if not Path(ssh_audit).exists():
            log(f"yardsticks: Debian's ssh-audit is {found and '.'.join(found.groups())}, too old for "
                f"OpenSSH 10; installing {SSH_AUDIT_PIN} in {tools_dir}")
            subprocess.run([sys.executable, "-m", "venv", str(tools_dir)], check=True)
            subprocess.run([str(tools_dir / "bin" / "pip"), "install", "-q", SSH_AUDIT_PIN], check=True)
    return {"ssh-audit": ssh_audit, "testssl": testssl}


# --- the servers -----------------------------------------------------------------------------


def servers(env: hardware.Environment) -> tuple[list[Server], dict]:
    """ENV's servers (not a lab's empty restore-drill server) and how to reach them, from its inventory."""
    inventory = yaml.safe_load(deployment.inventory_file(env).read_text())["all"]
    variables = inventory.get("vars", {})
    out = []
    for server in env.servers:
        host = {**variables, **inventory["hosts"][server.name]}
        address, user = host["ansible_host"], host.get("ansible_user", "root")
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]
        if host.get("ansible_ssh_private_key_file"):
            ssh += ["-i", str(host["ansible_ssh_private_key_file"])]
        ssh += shlex.split(host.get("ansible_ssh_common_args", ""))
        if host.get("ansible_port"):
            ssh += ["-p", str(host["ansible_port"])]
        ssh.append(f"{user}@{address}")
        port = int(host.get("hardening_ssh_port") or host.get("ansible_port") or 22)
        out.append(Server(server.name, address, list(server.roles), ssh, port))
    return out, variables


def run_lynis(server: Server, folder: Path) -> None:
    """Lynis on the server; its report, log and screen output into folder."""
    become = "sh -s" if server.ssh[-1].startswith("root@") else "sudo -n sh -s"
    result = subprocess.run([*server.ssh, become], input=LYNIS_SCRIPT.encode(), capture_output=True, timeout=900)
    if result.returncode != 0:
        server.errors.append(f"Lynis did not run (exit {result.returncode}): "
                             f"{result.stderr.decode(errors='replace').strip()[-300:]}")
        return
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
        tar.extractall(folder, filter="data")
    report = (folder / "lynis-report.dat").read_text(errors="replace")
    server.lynis_index, server.lynis_warnings, server.lynis_lost = lynis_figures(
        report, (folder / "lynis.log").read_text(errors="replace"))
    if server.lynis_index is None:
        server.errors.append(f"no hardening_index in {folder / 'lynis-report.dat'}")


def lynis_figures(report: str, log: str) -> tuple[int | None, int, dict[str, int]]:
    """Hardening index and warnings (from lynis-report.dat), and the points each test did not give
    (from lynis.log, which names each test, then the points it gave)."""
    index = re.search(r"^hardening_index=(\d+)", report, re.M)
    warnings = len(re.findall(r"^warning\[\]=", report, re.M))
    lost: dict[str, int] = {}
    test = None
    for line in log.splitlines():
        if found := re.search(r"Performing test ID (\S+)", line):
            test = found.group(1)
        elif test and (found := re.search(r"partial number of hardening points \((\d+) of (\d+)\)", line)):
            lost[test] = lost.get(test, 0) + int(found.group(2)) - int(found.group(1))
    return (int(index.group(1)) if index else None), warnings, {t: n for t, n in lost.items() if n}


def run_ssh_audit(server: Server, folder: Path, command: str) -> None:
    """ssh-audit against the server's SSH port: failures (CVEs included) and warnings.

    sshd (OpenSSH 9.8+, PerSourcePenalties) briefly refuses an address that opens many
    connections without logging in, which is what ssh-audit does: on no banner, wait and retry.
    """
    for attempt in range(4):
        result = subprocess.run([command, "-j", "-p", str(server.ssh_port), server.address],
                                capture_output=True, text=True, timeout=120)
        (folder / "ssh-audit.json").write_text(result.stdout)
        try:
            data = json.loads(result.stdout.splitlines()[0]) if result.stdout.strip() else {}
        except json.JSONDecodeError:
            data = {}
        if data.get("banner", {}).get("raw"):
            break
        time.sleep(20 * (attempt + 1))
    else:
        server.errors.append(f"ssh-audit: no answer from {server.address}:{server.ssh_port}")
        return
    server.ssh_fail, server.ssh_warn = ssh_audit_counts(data)


def ssh_audit_counts(data: dict) -> tuple[int, int]:
    """Failures (known vulnerabilities included) and warnings of ssh-audit's JSON report."""
    fail = warn = 0
    for section in ("kex", "key", "enc", "mac"):
        for entry in data.get(section) or []:
            notes = entry.get("notes") or {}
            fail += len(notes.get("fail") or [])
            warn += len(notes.get("warn") or [])
    return fail + len(data.get("cves") or []), warn


def run_testssl(server: Server, folder: Path, command: str, domain: str, self_signed: bool) -> None:
    """testssl.sh against the server's port 443 (name `domain` sent at its address)."""
    json_file, log_file = folder / "testssl.json", folder / "testssl.log"
    json_file.unlink(missing_ok=True)
    log_file.unlink(missing_ok=True)  # testssl.sh refuses to overwrite its files
    target = f"https://{domain}/" if domain and domain != server.address else f"https://{server.address}/"
    arguments = [command, "--quiet", "--warnings", "batch", "--color", "0", "--jsonfile", str(json_file),
                 "--logfile", str(log_file)]
    if domain and domain != server.address:
        arguments += ["--ip", server.address]
    subprocess.run([*arguments, target], capture_output=True, timeout=1800, cwd=folder)
    if not json_file.is_file():
        server.errors.append(f"testssl.sh wrote no report (see {log_file})")
        return
    try:
        server.tls, server.tls_trust, server.tls_high = testssl_counts(json.loads(json_file.read_text()), self_signed)
    except YardstickError as err:
        server.errors.append(f"{err} (see {log_file})")


def testssl_counts(findings: list[dict], self_signed: bool) -> tuple[dict[str, int], list[str], list[str]]:
    """testssl.sh's JSON findings: counts by severity, the trust findings a self-signed certificate
    explains (counted apart), and the HIGH and CRITICAL ones. A FATAL finding: the scan did not finish."""
    counts = {s: 0 for s in ("LOW", "MEDIUM", "HIGH", "CRITICAL")}
    trust: list[str] = []
    high: list[str] = []
    for finding in findings:
        severity = finding.get("severity", "")
        if severity == "FATAL":
            raise YardstickError(f"testssl.sh failed: {finding.get('finding', '')}")
        if severity not in counts:
            continue
        if self_signed and finding.get("id", "").startswith(TRUST_FINDINGS):
            trust.append(f"{finding['id']} {severity}: {finding.get('finding', '')}")
            continue
        counts[severity] += 1
        if severity in ("HIGH", "CRITICAL"):
            high.append(f"{finding['id']} ({severity})")
    return counts, trust, high


# --- all of it ---------------------------------------------------------------------------------


def measure(env: hardware.Environment, out_dir: Path, log=print) -> list[Server]:
    tools = control_tools(out_dir.parent / "tools", log)
    found, variables = servers(env)
    for server in found:
        (out_dir / server.name).mkdir(parents=True, exist_ok=True)
    log(f"yardsticks {env.name}: Lynis on {', '.join(s.name for s in found)} (about a minute)")
    with ThreadPoolExecutor(len(found)) as pool:
        list(pool.map(lambda s: run_lynis(s, out_dir / s.name), found))
    log("yardsticks: ssh-audit")
    for server in found:
        run_ssh_audit(server, out_dir / server.name, tools["ssh-audit"])
    domain = str(variables.get("marsad_domain") or "")
    self_signed = env.kind == "lab" and not variables.get("nginx_tls_certificate")
    for server in found:
        if "nginx" in server.roles:
            log(f"yardsticks: testssl.sh against {server.name} (a few minutes)")
            run_testssl(server, out_dir / server.name, tools["testssl"], domain, self_signed)
    return found


def table(found: list[Server]) -> str:
    def cell(value) -> str:
        return "-" if value is None else str(value)

    rows = [("server", "Lynis index", "ssh-audit fail/warn", "testssl LOW/MED/HIGH/CRIT", "trust (lab)", "target")]
    for s in found:
        tls = "/".join(str(s.tls[k]) for k in ("LOW", "MEDIUM", "HIGH", "CRITICAL")) if s.tls else "-"
        rows.append((s.name, cell(s.lynis_index), f"{cell(s.ssh_fail)}/{cell(s.ssh_warn)}", tls,
                     str(len(s.tls_trust)) if s.tls is not None else "-", "missed" if s.missed() else "met"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
