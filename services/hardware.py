"""Servers and deployment profiles (hardware/*.yaml): loading, sizing checks, the Ansible inventory.

One source of truth for what a deployment runs on. ``infra/`` (Pulumi) plans machines from
the same environments, and both it and the lab hand Ansible the inventory built here::

    env = load_environment("lab")          # hardware/environments/lab.yaml, or a path
    problems = check(env)                  # [] when the servers fit the profile
    data = inventory(env, secrets)         # YAML-able Ansible inventory

Files are validated against ``hardware/schema.yaml`` (JSON Schema) when loaded; a file that
does not match raises ``HardwareError`` with every problem found. ``check`` then compares the
servers with their profile: roles placed as the profile says, sizes, names and addresses.
"""
from __future__ import annotations

import ipaddress
import re
import secrets as _secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import yaml

from services.datafiles import Problem, display as _display, parse, validate

REPO_ROOT = Path(__file__).resolve().parents[1]
HARDWARE_DIR = REPO_ROOT / "hardware"

ROLES = ("database", "objectstore", "keycloak", "portal", "worker", "nginx", "backup", "monitoring", "sandbox")
PURPOSES = ("system", "data", "backup")
KINDS = ("lab", "bare_metal", "proxmox")
PROFILES = ("all-in-one", "standard", "high-availability")

# Secrets a deployment needs, by inventory variable. The lab generates them (generate_secrets);
# infra/ creates them as Pulumi secrets under the same names; both pass them to inventory().
SECRETS: Mapping[str, str] = {
    "marsad_secret_key": "the portal's session key",
    "postgresql_marsad_password": "PostgreSQL password of the portal and worker (role marsad)",
    "postgresql_keycloak_password": "PostgreSQL password of Keycloak (role keycloak)",
    "objectstore_admin_access_key": "S3 access key of the object store's administrator identity",
    "objectstore_admin_secret_key": "S3 secret key of the object store's administrator identity",
    "objectstore_marsad_secret_key": "S3 secret key of the portal and worker (identity marsad)",
    "objectstore_identity_seed": "seed from which each institution's S3 secret key is derived",
    "backup_cipher_passphrase": "encryption passphrase of the backup repository (pgBackRest)",
    "backup_s3_secret_key": "S3 secret key of the backup identity",
    "keycloak_admin_password": "password of Keycloak's bootstrap administrator",
}

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class HardwareError(ValueError):
    """A hardware file that cannot be loaded; ``problems`` says every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


# --- data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Disk:
    name: str
    size_gb: float
    purpose: str  # "system" | "data" | "backup"
    device: str | None = None


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    cpu: int
    ram_gb: float
    disks: list[Disk]
    roles: list[str]
    ssh_user: str | None = None
    description: str = ""
    proxmox: dict = field(default_factory=dict)

    def disk_gb(self, purpose: str) -> float:
        return sum(d.size_gb for d in self.disks if d.purpose == purpose)


@dataclass(frozen=True)
class Needs:
    """What a role (or the operating system) needs on a server."""

    cpu: int = 0
    ram_gb: float = 0
    disk_gb: Mapping[str, float] = field(default_factory=dict)  # per purpose

    def __add__(self, other: "Needs") -> "Needs":
        disks = {p: self.disk_gb.get(p, 0) + other.disk_gb.get(p, 0) for p in PURPOSES}
        return Needs(self.cpu + other.cpu, self.ram_gb + other.ram_gb, {p: v for p, v in disks.items() if v})


@dataclass(frozen=True)
class Slot:
    """A kind of server in a profile: the roles it carries (all), those it may carry, how many."""

    name: str
    roles: list[str]
    optional: list[str] = field(default_factory=list)
    count: int = 1

    def fits(self, roles: Iterable[str]) -> bool:
        roles = set(roles)
        return set(self.roles) <= roles <= set(self.roles) | set(self.optional)

    def describe(self) -> str:
        extra = f" (+ optional {', '.join(self.optional)})" if self.optional else ""
        return f"{self.name}: {', '.join(self.roles)}{extra}"


@dataclass(frozen=True)
class Profile:
    name: str  # "all-in-one" | "standard" | "high-availability"
    slots: list[Slot]
    needs: Mapping[str, Needs]  # per role
    base: Needs
    description: str = ""
    deployable: bool = True

    @property
    def roles(self) -> list[str]:
        """Every role the profile places (required or optional), in ROLES order."""
        placed = {r for s in self.slots for r in [*s.roles, *s.optional]}
        return [r for r in ROLES if r in placed]

    def needs_of(self, roles: Iterable[str]) -> Needs:
        total = self.base
        for role in roles:
            total = total + self.needs.get(role, Needs())
        return total


@dataclass(frozen=True)
class LabNetwork:
    network: ipaddress.IPv4Network
    bridge: str
    proxy_port: int
    suite: str
    restore_drill: "Server | None" = None  # an extra, empty server for the restore drill

    @property
    def gateway(self) -> str:
        """The host's end of the lab network: where the forward proxy listens."""
        return str(self.network.network_address + 1)


@dataclass(frozen=True)
class Environment:
    name: str
    kind: str  # "lab" | "bare_metal" | "proxmox"
    profile: Profile
    servers: list[Server]
    identity: str = "keycloak"  # "keycloak" | "local"
    domain: str | None = None
    description: str = ""
    ssh_user: str | None = None
    lab: LabNetwork | None = None
    proxmox: dict = field(default_factory=dict)
    vars: dict = field(default_factory=dict)
    file: Path | None = None

    def server(self, name: str) -> Server:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)

    def servers_with(self, role: str) -> list[Server]:
        return [s for s in self.servers if role in s.roles]

    @property
    def display_file(self) -> str:
        return _display(self.file) if self.file else f"{self.name}.yaml"


# --- loading -------------------------------------------------------------------------


def hardware_dir(directory: str | Path | None = None) -> Path:
    from services.config import LabEnv, section

    return Path(directory or section(LabEnv).hardware_dir or HARDWARE_DIR)


@lru_cache(maxsize=4)
def _schema(directory: Path) -> dict:
    return yaml.safe_load((directory / "schema.yaml").read_text(encoding="utf-8"))


def _validate(directory: Path, kind: str, data: Any, file: str) -> list[Problem]:
    schema = _schema(directory)
    return validate(jsonschema.Draft202012Validator({**schema["files"][kind], "$defs": schema["$defs"]}), data, file)


def _read_yaml(path: Path) -> Any:
    """A hardware file's data; HardwareError when missing, not YAML, or with a key written twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HardwareError([Problem(_display(path), "", "no such file")]) from None
    data, problems = parse(text, _display(path))
    if problems:
        raise HardwareError(problems)
    return data


def _needs(data: Mapping) -> Needs:
    return Needs(int(data.get("cpu", 0)), float(data.get("ram_gb", 0)),
                 {k: float(v) for k, v in (data.get("disk_gb") or {}).items()})


def load_profiles(directory: str | Path | None = None) -> dict[str, Profile]:
    """Every profile of hardware/profiles.yaml, by name."""
    directory = hardware_dir(directory)
    path = directory / "profiles.yaml"
    data = _read_yaml(path)
    problems = _validate(directory, "profiles", data, _display(path))
    if problems:
        raise HardwareError(problems)
    needs = {role: _needs(n) for role, n in data["needs"].items()}
    base = _needs(data["base"])
    return {
        name: Profile(
            name=name,
            slots=[Slot(s["name"], list(s["roles"]), list(s.get("optional", [])), int(s.get("count", 1)))
                   for s in p["slots"]],
            needs=needs, base=base, description=p.get("description", "").strip(),
            deployable=p.get("deployable", True),
        )
        for name, p in data["profiles"].items()
    }


def environment_path(name: str | Path, directory: str | Path | None = None) -> Path:
    """``lab`` -> hardware/environments/lab.yaml; a path (with / or .yaml) is taken as is."""
    text = str(name)
    if "/" in text or text.endswith((".yaml", ".yml")):
        return Path(text)
    return hardware_dir(directory) / "environments" / f"{text}.yaml"


def environment_names(directory: str | Path | None = None) -> list[str]:
    return sorted(p.stem for p in (hardware_dir(directory) / "environments").glob("*.yaml"))


def load_environment(name: str | Path, directory: str | Path | None = None) -> Environment:
    """An environment by name (hardware/environments/<name>.yaml) or path; HardwareError if invalid."""
    directory = hardware_dir(directory)
    path = environment_path(name, directory)
    if not path.is_file() and not ("/" in str(name) or str(name).endswith((".yaml", ".yml"))):
        known = ", ".join(environment_names(directory)) or "none"
        raise HardwareError([Problem(_display(path), "", f"no environment {name!r}; known: {known}")])
    data = _read_yaml(path)
    file = _display(path)
    problems = _validate(directory, "environment", data, file)
    if problems:
        raise HardwareError(problems)
    profiles = load_profiles(directory)
    if data["profile"] not in profiles:
        raise HardwareError([Problem(file, "profile", f"unknown profile {data['profile']!r}; "
                                                       f"expected one of: {', '.join(profiles)}")])
    lab = None
    if "lab" in data:
        try:
            network = ipaddress.IPv4Network(data["lab"]["network"])
        except ValueError as err:
            raise HardwareError([Problem(file, "lab.network", f"not an IPv4 network: {err}")]) from None
        drill = data["lab"].get("restore_drill")
        lab = LabNetwork(network, data["lab"].get("bridge", f"marsad-{data['name']}"[:15]),
                         int(data["lab"].get("proxy_port", 3142)), data["lab"].get("suite", "trixie"),
                         Server(drill["name"], drill["address"], 1, 1, [Disk("system", 10, "system")], [])
                         if drill else None)
    servers = [
        Server(
            name=s["name"], address=str(s["address"]), cpu=int(s["cpu"]), ram_gb=float(s["ram_gb"]),
            disks=[Disk(d["name"], float(d["size_gb"]), d["purpose"], d.get("device")) for d in s["disks"]],
            roles=list(s["roles"]), ssh_user=s.get("ssh_user"), description=s.get("description", ""),
            proxmox=dict(s.get("proxmox") or {}),
        )
        for s in data["servers"]
    ]
    return Environment(
        name=data["name"], kind=data["kind"], profile=profiles[data["profile"]], servers=servers,
        identity=data.get("identity", "keycloak"), domain=data.get("domain"),
        description=str(data.get("description", "")).strip(), ssh_user=data.get("ssh_user"), lab=lab,
        proxmox=dict(data.get("proxmox") or {}), vars=dict(data.get("vars") or {}), file=path,
    )


# --- checks --------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_sizes(env: Environment, index: int, server: Server, out: list[Problem]) -> None:
    file, where = env.display_file, f"servers[{index}]"
    need = env.profile.needs_of(server.roles)
    roles = ", ".join(server.roles)
    context = f"its roles ({roles}) need at least {{}} in profile {env.profile.name}"
    if server.cpu < need.cpu:
        out.append(Problem(file, f"{where}.cpu", f"server {server.name} has {server.cpu} CPU core(s); "
                                                 + context.format(f"{need.cpu} cores")))
    if server.ram_gb < need.ram_gb:
        out.append(Problem(file, f"{where}.ram_gb", f"server {server.name} has {_fmt(server.ram_gb)} GB of RAM; "
                                                    + context.format(f"{_fmt(need.ram_gb)} GB")))
    # Backups go on backup disks, else on data disks; data goes on data disks, else on the system disk.
    have = {p: server.disk_gb(p) for p in PURPOSES}
    want = {p: need.disk_gb.get(p, 0) for p in PURPOSES}
    if not have["backup"]:
        want["data"] += want["backup"]
        want["backup"] = 0
    if not have["data"]:
        want["system"] += want["data"]
        want["data"] = 0
    for purpose in PURPOSES:
        if have[purpose] < want[purpose]:
            out.append(Problem(file, f"{where}.disks",
                               f"server {server.name} has {_fmt(have[purpose])} GB of {purpose} disk; "
                               + context.format(f"{_fmt(want[purpose])} GB")))


def check(env: Environment) -> list[Problem]:
    """Problems of an environment against its profile; empty when it can be deployed."""
    out: list[Problem] = []
    file, profile = env.display_file, env.profile
    if not profile.deployable:
        out.append(Problem(file, "profile", f"profile {profile.name} is sized here for planning, but the "
                                            "playbooks do not deploy it yet; use standard or all-in-one"))
    if env.file is not None and env.file.stem != env.name:
        out.append(Problem(file, "name", f"environment {env.name!r} must be in a file named {env.name}.yaml"))

    # Names and addresses: unique, and addresses that Ansible can reach.
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for i, server in enumerate(env.servers):
        if server.name in seen_names:
            out.append(Problem(file, f"servers[{i}].name", f"server name {server.name!r} is also "
                                                            f"servers[{seen_names[server.name]}]"))
        seen_names.setdefault(server.name, i)
        address = server.address.lower()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            if env.kind == "lab" or not _HOSTNAME.match(address):
                out.append(Problem(file, f"servers[{i}].address",
                                   f"{server.address!r} is not an IP address" + ("" if env.kind == "lab"
                                                                                 else " or a host name")))
        if address in seen_addresses:
            out.append(Problem(file, f"servers[{i}].address", f"address {server.address} is also the address "
                                                               f"of servers[{seen_addresses[address]}]"))
        seen_addresses.setdefault(address, i)
        systems = [d for d in server.disks if d.purpose == "system"]
        if len(systems) != 1:
            out.append(Problem(file, f"servers[{i}].disks",
                               f"server {server.name} needs exactly one system disk, found {len(systems)}"))
        disk_names = [d.name for d in server.disks]
        for name in sorted({n for n in disk_names if disk_names.count(n) > 1}):
            out.append(Problem(file, f"servers[{i}].disks", f"disk name {name!r} is used twice"))

    # Roles placed as the profile says.
    filled: dict[str, list[str]] = {slot.name: [] for slot in profile.slots}
    for i, server in enumerate(env.servers):
        foreign = [r for r in server.roles if r not in profile.roles]
        if foreign:
            out.append(Problem(file, f"servers[{i}].roles", f"role(s) {', '.join(foreign)} not part of profile "
                                                             f"{profile.name}"))
            continue
        slot = next((s for s in profile.slots if s.fits(server.roles)), None)
        if slot is None:
            layout = "; ".join(s.describe() for s in profile.slots)
            out.append(Problem(file, f"servers[{i}].roles",
                               f"server {server.name} carries {', '.join(server.roles)}, which matches no server "
                               f"of profile {profile.name} ({layout})"))
            continue
        filled[slot.name].append(server.name)
        _check_sizes(env, i, server, out)
    for slot in profile.slots:
        have = len(filled[slot.name])
        if have < slot.count:
            out.append(Problem(file, "servers", f"profile {profile.name} needs {slot.count} {slot.name} server(s) "
                                                f"(roles {', '.join(slot.roles)}); found {have}"))
        elif have > slot.count:
            out.append(Problem(file, "servers", f"profile {profile.name} has {slot.count} {slot.name} server(s); "
                                                f"found {have}: {', '.join(filled[slot.name])}"))

    # Identity: Keycloak, or local accounts (lab, sandboxes) but never half of each.
    keycloaks = [s.name for s in env.servers_with("keycloak")]
    if env.identity == "keycloak" and not keycloaks:
        out.append(Problem(file, "identity", "identity is keycloak but no server carries the keycloak role "
                                             "(add it, or set identity: local for a lab or sandbox)"))
    if env.identity == "local" and keycloaks:
        out.append(Problem(file, "identity", f"identity is local but {', '.join(keycloaks)} carries the keycloak "
                                             "role; remove the role or set identity: keycloak"))

    # The lab: its own private network; other kinds have none.
    if env.kind == "lab":
        if env.lab is None:
            out.append(Problem(file, "lab", "a lab environment needs a lab section (network, bridge)"))
        else:
            network = env.lab.network
            if not network.is_private or network.prefixlen < 24:
                out.append(Problem(file, "lab.network", f"{network} must be a private network of at most 256 "
                                                        "addresses (a /24 or smaller)"))
            lab_servers = list(enumerate(env.servers))
            if env.lab.restore_drill is not None:
                drill = env.lab.restore_drill
                lab_servers.append(("lab.restore_drill", drill))
                if drill.name in {s.name for s in env.servers} or drill.address in {s.address for s in env.servers}:
                    out.append(Problem(file, "lab.restore_drill", f"{drill.name} ({drill.address}) must have a name "
                                                                  "and address of its own"))
            for i, server in lab_servers:
                where = i if isinstance(i, str) else f"servers[{i}]"
                try:
                    ip = ipaddress.ip_address(server.address)
                except ValueError:
                    continue
                if ip not in network or ip in (network.network_address, network.broadcast_address) \
                        or str(ip) == env.lab.gateway:
                    out.append(Problem(file, f"{where}.address",
                                       f"{server.address} must be a host address of {network} other than "
                                       f"{env.lab.gateway} (the host's end)"))
    elif env.lab is not None:
        out.append(Problem(file, "lab", f"only lab environments have a lab section (kind is {env.kind})"))
    return out


# --- the Ansible inventory -----------------------------------------------------------


def generate_secrets(existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every secret of SECRETS: those in ``existing`` kept, the missing ones generated."""
    out = dict(existing or {})
    for name in SECRETS:
        if not out.get(name):
            # Access keys are shown in consoles and logs: short and alphanumeric. Secrets: 256 bits.
            out[name] = ("MARSAD" + _secrets.token_hex(7).upper()) if name.endswith("_access_key") \
                else _secrets.token_urlsafe(32)
    return out


def inventory(env: Environment, secrets: Mapping[str, str] | None = None, *,
              connection: Mapping[str, Any] | None = None) -> dict:
    """The Ansible inventory of an environment, as data (``yaml.safe_dump`` writes the file).

    - a group per role (``database``, ``portal``...), holding the servers that carry it;
    - per host: ``ansible_host``, ``ansible_user``, ``marsad_roles``, ``marsad_cpu``, ``marsad_ram_gb``,
      ``marsad_disks``;
    - for all: ``marsad_environment``, ``marsad_environment_kind``, ``marsad_profile``, ``marsad_identity``,
      ``marsad_domain``, ``marsad_addresses`` (role -> addresses, for firewalls and pg_hba), the
      lab's proxy when a lab, then the environment's ``vars``, then ``secrets`` (see SECRETS),
      then ``connection`` (e.g. the lab's SSH key file).
    """
    hosts = {}
    for server in env.servers:
        hosts[server.name] = {
            "ansible_host": server.address,
            "ansible_user": server.ssh_user or env.ssh_user or "root",
            "marsad_roles": list(server.roles),
            "marsad_cpu": server.cpu,
            "marsad_ram_gb": server.ram_gb,
            "marsad_disks": [
                {"name": d.name, "size_gb": d.size_gb, "purpose": d.purpose, **({"device": d.device} if d.device else {})}
                for d in server.disks
            ],
        }
    variables: dict[str, Any] = {
        "marsad_environment": env.name,
        "marsad_environment_kind": env.kind,
        "marsad_profile": env.profile.name,
        "marsad_identity": env.identity,
        "marsad_domain": env.domain or (env.servers_with("nginx")[0].address if env.servers_with("nginx")
                                        else env.servers[0].address),
        "marsad_addresses": {role: [s.address for s in env.servers_with(role)] for role in ROLES},
    }
    if env.lab is not None:
        proxy = f"http://{env.lab.gateway}:{env.lab.proxy_port}"
        variables["marsad_http_proxy"] = proxy
        variables["marsad_lab_network"] = str(env.lab.network)
    variables.update(env.vars)
    if secrets:
        unknown = sorted(set(secrets) - set(SECRETS))
        if unknown:
            raise ValueError(f"unknown secret(s) {', '.join(unknown)}; expected names from services.hardware.SECRETS")
        variables.update(secrets)
    variables.update(connection or {})
    children = {role: {"hosts": {s.name: {} for s in env.servers_with(role)}} for role in ROLES}
    return {"all": {"vars": variables, "hosts": hosts, "children": children}}
