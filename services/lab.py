"""The hardware lab: an environment's servers booted on this machine as Debian containers.

Each server of a ``kind: lab`` environment (hardware/environments/) becomes a real Debian
server with its own systemd, sshd and apt: a ``systemd-nspawn`` container booted in its own
network namespace, with the environment's address, on a bridge whose host end (the network's
``.1``) runs a forward proxy (tinyproxy) so that apt works inside while the containers have
no route out. Ansible and testinfra then reach the servers over SSH as they would real ones.

    lab = Lab(load_environment("lab"))
    lab.up()        # idempotent: boots what is not running
    deployment.lab_up(lab)   # the same, then writes its secrets and inventory (services.deployment)
    lab.down()      # powers off, deletes namespaces, veths, bridge, folders

One pristine root filesystem is built with debootstrap once and cached
(``MARSAD_LAB_CACHE``, default /var/cache/marsad-lab/<suite>-<hash>/); every server starts
from a copy of it. What the lab made is recorded in ``<state>/lab.json`` (``MARSAD_LAB_DIR``,
default /var/lib/marsad-lab/<env>/), so ``down`` removes exactly that, processes by their id.

Every wait is bounded and every failure says what to look at.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


from services import hardware
from services.config import LabEnv, section

CACHE_DIR = section(LabEnv).lab_cache
STATE_ROOT = section(LabEnv).lab_dir

# What every lab server has before Ansible: what a minimal Debian install with an SSH server
# has (python3 for Ansible; python3-apt so Ansible's apt module needs no bootstrap).
IMAGE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
                  "ca-certificates", "iproute2")
IMAGE_LAYOUT = 4  # bump when prepare_image changes what it writes: the cache key changes with it

BOOT_TIMEOUT = 90       # seconds for a container to answer SSH and reach `running`
SHUTDOWN_TIMEOUT = 30   # seconds for a clean poweroff before the container's process is killed
DEBOOTSTRAP_TIMEOUT = 900


class LabError(RuntimeError):
    """The lab cannot do what was asked; the message says why and what to do."""


def _run(*args: str, timeout: float = 60, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s") from None
    except FileNotFoundError:
        raise LabError(f"`{args[0]}` is not installed; run `make lab-deps`") from None
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(args)}` failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
    return result


def unavailable() -> str | None:
    """Why this machine cannot run the lab (None when it can): root, nspawn, debootstrap, proxy, netns."""
    if os.geteuid() != 0:
        return "the lab boots containers and needs root"
    missing = [tool for tool in ("systemd-nspawn", "debootstrap", "tinyproxy", "ip", "ssh", "ssh-keygen")
               if shutil.which(tool) is None]
    if missing:
        return (f"missing {', '.join(missing)} (Debian packages systemd-container, debootstrap, tinyproxy, "
                "iproute2, openssh-client: `make lab-deps`)")
    if not Path("/sys/fs/cgroup").is_dir():
        return "no cgroup filesystem at /sys/fs/cgroup: systemd cannot boot inside a container here"
    probe = f"marsad-probe-{os.getpid()}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"cannot create a network namespace: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


# --- Debian mirror: the one this machine's apt uses -----------------------------------


@dataclass(frozen=True)
class Mirror:
    debian: str    # e.g. http://<mirror>/debian
    security: str  # e.g. http://<mirror>/debian-security

    @property
    def hosts(self) -> list[str]:
        return sorted({urlsplit(u).hostname for u in (self.debian, self.security) if urlsplit(u).hostname})


def host_mirror() -> Mirror:
    """The Debian mirror of this machine's apt sources (MARSAD_LAB_MIRROR / _SECURITY_MIRROR override)."""
    uris: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            if line.lower().startswith("uris:"):
                uris += line.split(":", 1)[1].split()
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))] if sources.is_dir() else []:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                match = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)", line)
                if match:
                    uris.append(match.group(1))
    uris = [u.rstrip("/") for u in uris if u.startswith(("http://", "https://"))]
    given = section(LabEnv)
    debian = given.lab_mirror or next((u for u in uris if u.endswith("/debian")), None)
    security = given.lab_security_mirror or next(
        (u for u in uris if u.endswith("/debian-security")), None)
    if not debian:
        raise LabError("no Debian mirror in /etc/apt/sources.list*; set MARSAD_LAB_MIRROR=http://<mirror>/debian")
    return Mirror(debian, security or debian + "-security")


# --- the cached image -----------------------------------------------------------------


def image_key(suite: str) -> str:
    digest = hashlib.sha256(json.dumps([suite, sorted(IMAGE_PACKAGES), IMAGE_LAYOUT]).encode()).hexdigest()
    return f"{suite}-{digest[:12]}"


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _umount_below(root: Path) -> None:
    # debootstrap mounts /proc and /sys in its target; an interrupted run can leave them.
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m == str(root) or m.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


def prepare_image(root: Path, suite: str, mirror: Mirror) -> None:
    """Make a fresh debootstrap a template: no host identity, apt sources, sshd for keys."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    with contextlib.suppress(FileNotFoundError):
        (root / "var/lib/dbus/machine-id").unlink()
    (root / "etc/apt/sources.list").write_text("")
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {mirror.debian}\nSuites: {suite} {suite}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {mirror.security}\nSuites: {suite}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # Up to date with -updates and -security, as a server installed today would be (debootstrap
    # takes the release alone): otherwise the first package installed can upgrade systemd under
    # a running PID 1. Run in a throwaway container on the host's network, before DNS is removed.
    upgrade = subprocess.run(
        ["systemd-nspawn", "-q", "-D", str(root), "--register=no", "--keep-unit", "--resolv-conf=copy-host",
         "--setenv=DEBIAN_FRONTEND=noninteractive", "sh", "-c",
         "apt-get update -qq && apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade && apt-get clean"],
        capture_output=True, text=True, timeout=900)
    if upgrade.returncode != 0:
        raise LabError(f"updating the image failed: {(upgrade.stderr or upgrade.stdout)[-2000:]}")
    # No DNS in the lab (names are in /etc/hosts; apt resolves through the proxy): fail fast.
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("# the lab has no DNS: servers are in /etc/hosts, apt goes through the proxy\n")
    for cache in (root / "var/cache/apt/archives").glob("*.deb"):
        cache.unlink()
    # Containers have no console login to offer; the getty only fills the console log.
    getty = root / "etc/systemd/system/console-getty.service"
    getty.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        getty.unlink()
    getty.symlink_to("/dev/null")


def image(suite: str = "trixie", *, log=print) -> Path:
    """The cached pristine root filesystem for ``suite``: built once (debootstrap), then reused."""
    key = image_key(suite)
    target = CACHE_DIR / key
    with _locked(CACHE_DIR / f"{key}.lock"):
        if (target / ".marsad-image").is_file():
            return target
        mirror = host_mirror()
        work = CACHE_DIR / f"{key}.partial"
        if work.exists():
            _umount_below(work)
            shutil.rmtree(work)
        log(f"lab: building the {suite} image once with debootstrap (about 2-3 min) into {target}")
        started = time.monotonic()
        logfile = CACHE_DIR / f"{key}.debootstrap.log"
        with open(logfile, "w") as out:
            try:
                result = subprocess.run(
                    ["debootstrap", "--variant=minbase", f"--include={','.join(IMAGE_PACKAGES)}", suite, str(work),
                     mirror.debian], stdout=out, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                result = None
        if result is None or result.returncode != 0:
            _umount_below(work)
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-15:])
            raise LabError(f"debootstrap of {suite} from {mirror.debian} failed; log {logfile}:\n{tail}")
        _umount_below(work)
        prepare_image(work, suite, mirror)
        (work / ".marsad-image").write_text(json.dumps(
            {"suite": suite, "packages": IMAGE_PACKAGES, "built": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        work.rename(target)
        log(f"lab: image ready in {time.monotonic() - started:.0f} s")
        return target


# --- the lab of one environment -------------------------------------------------------


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child not yet reaped) counts as gone.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def wait_port(address: str, port: int, timeout: float) -> bool:
    """Whether something accepts TCP connections on address:port within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return True
        time.sleep(0.3)
    return False


def _link_exists(name: str, netns: str | None = None) -> bool:
    args = ["ip", *(["-n", netns] if netns else []), "link", "show", name]
    return subprocess.run(args, capture_output=True).returncode == 0


def _cgroup_bases() -> list[Path]:
    """Where this process sits in the cgroup hierarchies a container's systemd uses.

    The unified (v2) one, and in a hybrid layout also v1's ``name=systemd``; other v1
    controllers are left alone.
    """
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.procs").exists():
        unified = Path("/sys/fs/cgroup")
    bases = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and (unified / "cgroup.procs").exists():
            bases.append(unified / path.lstrip("/"))
        elif controllers == "name=systemd":
            bases.append(Path("/sys/fs/cgroup/systemd") / path.lstrip("/"))
    return bases


def _remove_cgroups(folders: list[Path]) -> None:
    """rmdir each folder's subtree, deepest first (a cgroup goes once its processes have)."""
    for folder in folders:
        for path, _dirs, _files in os.walk(folder, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(path)


class Lab:
    def __init__(self, env: hardware.Environment, *, state_root: Path | None = None, log=print):
        if env.kind != "lab" or env.lab is None:
            raise LabError(f"environment {env.name} is of kind {env.kind}, not lab")
        self.env = env
        self.net = env.lab
        self.state = (state_root or STATE_ROOT) / env.name
        self.log = log

    @property
    def servers(self) -> list[hardware.Server]:
        """The environment's servers, plus the restore drill's empty server when the lab has one."""
        drill = self.net.restore_drill
        return [*self.env.servers, *([drill] if drill else [])]

    # names ------------------------------------------------------------------------
    def netns(self, server: hardware.Server) -> str:
        return f"marsad-{self.env.name}-{server.name}"

    def veth(self, server: hardware.Server) -> str:
        # Interface names are at most 15 characters: a stable hash of environment and server.
        return "mv" + hashlib.sha256(f"{self.env.name}/{server.name}".encode()).hexdigest()[:10]

    def machine_dir(self, server: hardware.Server) -> Path:
        return self.state / "machines" / server.name

    def cgroups(self, server: hardware.Server) -> list[Path]:
        """The container's own cgroups. Without them every container, systemd-nspawn started with
        --keep-unit from one place, shares one cgroup tree: their systemds then create and remove
        each other's unit cgroups (a reload failing with "Failed to spawn executor")."""
        return [base / "marsad-lab" / f"{self.env.name}-{server.name}" for base in _cgroup_bases()]

    @property
    def key_file(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    @property
    def inventory_file(self) -> Path:
        return self.state / "inventory.yml"

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.yml"   # written by services.deployment.write_secrets only

    @property
    def record_file(self) -> Path:
        return self.state / "lab.json"

    # record of what was made --------------------------------------------------------
    def _record(self) -> dict:
        try:
            return json.loads(self.record_file.read_text())
        except FileNotFoundError:
            return {"environment": self.env.name, "bridge": None, "proxy": None, "machines": {}}

    def _save(self, record: dict) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        tmp = self.record_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.record_file)

    # up ------------------------------------------------------------------------------
    def up(self) -> None:
        problems = hardware.check(self.env)
        if problems:
            raise LabError("the environment has problems:\n" + "\n".join(map(str, problems)))
        reason = unavailable()
        if reason:
            raise LabError(f"this machine cannot run the lab: {reason}")
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o711)  # secrets and keys in it are 0600; the proxy's user must get through
        with _locked(self.state / ".lock"):
            pristine = image(self.net.suite, log=self.log)
            self._ssh_key()
            record = self._record()
            self._bridge(record)
            self._proxy(record)
            booting = []
            for server in self.servers:
                if self._boot(server, pristine, record):
                    booting.append(server)
            for server in booting:
                self._wait_ready(server, record)
        self.log(f"lab {self.env.name}: {len(self.env.servers)} server(s) up in {time.monotonic() - started:.0f} s; "
                 f"inventory {self.inventory_file}")

    def _ssh_key(self) -> None:
        if not self.key_file.is_file():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"marsad-lab-{self.env.name}",
                 "-f", str(self.key_file))

    def _bridge(self, record: dict) -> None:
        bridge, gateway = self.net.bridge, self.net.gateway
        if not _link_exists(bridge):
            _run("ip", "link", "add", bridge, "type", "bridge")
            record["bridge"] = bridge
            self._save(record)
        address = f"{gateway}/{self.net.network.prefixlen}"
        if address not in _run("ip", "-o", "addr", "show", "dev", bridge).stdout:
            _run("ip", "addr", "add", address, "dev", bridge)
        _run("ip", "link", "set", bridge, "up")

    def _proxy(self, record: dict) -> None:
        """tinyproxy on the host's end of the bridge, letting through only the Debian mirror."""
        proxy = record.get("proxy") or {}
        if _alive(proxy.get("pid")) and wait_port(self.net.gateway, self.net.proxy_port, 1):
            return
        mirror = host_mirror()
        folder = self.state / "proxy"
        folder.mkdir(parents=True, exist_ok=True)
        if _user_exists("tinyproxy"):  # tinyproxy drops to its own user, then reads the filter
            shutil.chown(folder, user="tinyproxy")
        filters = folder / "allowed-hosts"
        filters.write_text("".join(f"^{re.escape(host)}$\n" for host in mirror.hosts))
        config = folder / "tinyproxy.conf"
        config.write_text(
            "# written by services/lab.py: the lab's only way out, to the Debian mirror\n"
            + ("User tinyproxy\nGroup tinyproxy\n" if _user_exists("tinyproxy") else "")
            + f"Port {self.net.proxy_port}\nListen {self.net.gateway}\nTimeout 600\nMaxClients 100\n"
            f"Allow {self.net.network}\nFilter \"{filters}\"\nFilterType ere\nFilterDefaultDeny Yes\n"
            "ConnectPort 443\nLogLevel Warning\n")
        with open(folder / "tinyproxy.log", "ab") as out:
            process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        record["proxy"] = {"pid": process.pid, "port": self.net.proxy_port}
        self._save(record)
        if not wait_port(self.net.gateway, self.net.proxy_port, 10):
            raise LabError(f"tinyproxy did not listen on {self.net.gateway}:{self.net.proxy_port} within 10 s; "
                           f"see {folder / 'tinyproxy.log'}")

    def _boot(self, server: hardware.Server, pristine: Path, record: dict) -> bool:
        """Start one server unless it runs already; True when it was started now."""
        entry = record["machines"].get(server.name, {})
        if _alive(entry.get("pid")):
            return False
        netns, veth, folder = self.netns(server), self.veth(server), self.machine_dir(server)
        root = folder / "rootfs"
        if not (root / ".marsad-image").is_file():
            # A fresh copy of the pristine image, then this server's identity.
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            record["machines"][server.name] = {"dir": str(folder), "netns": netns, "veth": veth, "pid": None}
            self._save(record)
            _run("cp", "-a", "--reflink=auto", str(pristine), str(root), timeout=300)
            self._personalise(server, root)
        entry = record["machines"].setdefault(server.name, {"dir": str(folder)})
        entry.update(netns=netns, veth=veth)
        self._save(record)
        # Network: a namespace with eth0 at the server's address, its peer on the bridge.
        if not Path(f"/run/netns/{netns}").exists():
            _run("ip", "netns", "add", netns)
        if not _link_exists(veth):
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _run("ip", "link", "set", veth, "master", self.net.bridge, "up")
        address = f"{server.address}/{self.net.network.prefixlen}"
        if address not in _run("ip", "-n", netns, "-o", "addr", "show", "dev", "eth0").stdout:
            _run("ip", "-n", netns, "addr", "add", address, "dev", "eth0")
        _run("ip", "-n", netns, "link", "set", "eth0", "up")
        _run("ip", "-n", netns, "link", "set", "lo", "up")
        console = folder / "console.log"
        with open(console, "ab") as out:
            cgroups = self.cgroups(server)
            for cgroup in cgroups:
                cgroup.mkdir(parents=True, exist_ok=True)
            # The shell moves itself into the container's cgroups, then becomes systemd-nspawn.
            enter = "".join(f"echo $$ > {shlex.quote(str(c / 'cgroup.procs'))}; " for c in cgroups)
            process = subprocess.Popen(
                ["sh", "-c", enter + 'exec "$@"', "sh",
                 "systemd-nspawn", "--quiet", "-D", str(root), "--boot", "--register=no", "--keep-unit",
                 f"--machine={server.name}", f"--network-namespace-path=/run/netns/{netns}",
                 # nftables and sysctls of its own namespace, as on a real server.
                 "--capability=CAP_NET_ADMIN", "--resolv-conf=off", "--timezone=off", "--link-journal=no"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        entry["pid"] = process.pid
        self._save(record)
        self.log(f"lab {self.env.name}: booting {server.name} at {server.address} (pid {process.pid})")
        return True

    def _personalise(self, server: hardware.Server, root: Path) -> None:
        (root / "etc/hostname").write_text(f"{server.name}\n")
        (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{self.net.gateway}\tlab-gateway"]
        hosts += [f"{s.address}\t{s.name}" for s in self.servers]
        (root / "etc/hosts").write_text("\n".join(hosts) + "\n")
        # Its own SSH host keys (the image has none: every copy would share them).
        _run("ssh-keygen", "-A", "-f", str(root))
        ssh = root / "root/.ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text(Path(f"{self.key_file}.pub").read_text())
        os.chmod(ssh / "authorized_keys", 0o600)
        # apt through the lab's proxy; the playbooks set it again from marsad_http_proxy.
        (root / "etc/apt/apt.conf.d/01marsad-proxy").write_text(
            f'Acquire::http::Proxy "http://{self.net.gateway}:{self.net.proxy_port}";\n'
            f'Acquire::https::Proxy "http://{self.net.gateway}:{self.net.proxy_port}";\n')

    def ssh_args(self, server: hardware.Server, user: str = "root") -> list[str]:
        return ["ssh", "-i", str(self.key_file), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "LogLevel=ERROR", f"{user}@{server.address}"]

    def ssh(self, server: hardware.Server, command: str, timeout: float = 60, check: bool = True):
        return _run(*self.ssh_args(server), command, timeout=timeout, check=check)

    def _wait_ready(self, server: hardware.Server, record: dict) -> None:
        """Bounded: SSH answers, then systemd reports running (or degraded, with the failed units named)."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        console = self.machine_dir(server) / "console.log"
        pid = record["machines"][server.name]["pid"]
        # A re-created server has new host keys: forget the old ones.
        if self.known_hosts.is_file():
            subprocess.run(["ssh-keygen", "-R", server.address, "-f", str(self.known_hosts)], capture_output=True)
        state = ""
        while time.monotonic() < deadline:
            if not _alive(pid):
                tail = "\n".join(console.read_text(errors="replace").splitlines()[-20:])
                raise LabError(f"{server.name}: the container stopped while booting; console {console}:\n{tail}")
            if wait_port(server.address, 22, 2):
                result = self.ssh(server, "systemctl is-system-running --wait", timeout=max(5, deadline - time.monotonic()),
                                  check=False)
                state = result.stdout.strip()
                if state in ("running", "degraded"):
                    break
            time.sleep(1)
        else:
            raise LabError(f"{server.name} ({server.address}) not ready within {BOOT_TIMEOUT} s "
                           f"(systemd says {state or 'nothing: no SSH'}); console {console}")
        if state == "degraded":
            failed = self.ssh(server, "systemctl --failed --no-legend --plain | cut -d' ' -f1", check=False).stdout
            self.log(f"lab {self.env.name}: {server.name} is up but degraded; failed units: {' '.join(failed.split())}")

    # status --------------------------------------------------------------------------
    def status(self) -> list[tuple[str, str, str]]:
        record = self._record()
        out = []
        for server in self.servers:
            entry = record["machines"].get(server.name)
            if not entry:
                out.append((server.name, server.address, "absent"))
            elif not _alive(entry.get("pid")):
                out.append((server.name, server.address, "stopped"))
            else:
                result = self.ssh(server, "systemctl is-system-running", timeout=15, check=False)
                out.append((server.name, server.address, result.stdout.strip() or "no answer over SSH"))
        return out

    # down ----------------------------------------------------------------------------
    def down(self) -> None:
        """Remove everything ``up`` made: containers, namespaces, veths, bridge, proxy, folders."""
        started = time.monotonic()
        if not self.state.exists():
            self.log(f"lab {self.env.name}: nothing to remove")
            return
        with _locked(self.state / ".lock"):
            record = self._record()
            for name, entry in record["machines"].items():
                self._power_off(name, entry.get("pid"))
            for server in self.servers:  # also what a half-finished `up` left unrecorded
                entry = record["machines"].get(server.name, {})
                netns = entry.get("netns") or self.netns(server)
                veth = entry.get("veth") or self.veth(server)
                if _link_exists(veth):
                    _run("ip", "link", "del", veth, check=False)
                if Path(f"/run/netns/{netns}").exists():
                    _run("ip", "netns", "del", netns, check=False)
            proxy = record.get("proxy") or {}
            if _alive(proxy.get("pid")):
                os.kill(proxy["pid"], signal.SIGTERM)
                _wait_gone(proxy["pid"], 10)
            if record.get("bridge") and _link_exists(record["bridge"]):
                _run("ip", "link", "del", record["bridge"], check=False)
        for server in self.servers:
            _umount_below(self.machine_dir(server))
            _remove_cgroups(self.cgroups(server))
        shutil.rmtree(self.state)
        self.log(f"lab {self.env.name}: removed in {time.monotonic() - started:.0f} s")

    def _power_off(self, name: str, pid: int | None) -> None:
        if not _alive(pid):
            return
        # systemd-nspawn turns SIGTERM into a clean poweroff of the container's systemd.
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, SHUTDOWN_TIMEOUT):
            self.log(f"lab {self.env.name}: {name} did not power off within {SHUTDOWN_TIMEOUT} s; killing it")
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def recorded_labs() -> list[str]:
    """Environments with a lab on this machine (a state folder under MARSAD_LAB_DIR)."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if (p / "lab.json").is_file() or (p / ".lock").is_file())


def lab_environment(profile: str) -> hardware.Environment:
    """The lab environment (kind lab) of a profile: `lab` for standard, `lab-all-in-one`..."""
    found = []
    for name in hardware.environment_names():
        with contextlib.suppress(hardware.HardwareError):
            env = hardware.load_environment(name)
            if env.kind == "lab" and env.profile.name == profile:
                found.append(env)
    if not found:
        raise LabError(f"no lab environment for profile {profile!r} in hardware/environments/")
    return sorted(found, key=lambda e: (len(e.name), e.name))[0]
