"""The Pulumi program (infra/) under Pulumi's own mocks: no CLI, no engine, no Proxmox.

`run` executes `marsad_stack` with `pulumi.runtime.set_mocks`, recording every resource
registered (with its inputs as the engine would receive them) and every component's
registered outputs, then resolves the stack outputs keeping track of which values are secret.
The mocks return random results as plain values, as a worst case: pulumi_random's own secret
marking happens in the engine, so anything secret here was made secret by the program.
"""
from __future__ import annotations

import functools
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

try:
    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await
except ImportError:  # a failure, not a skip: `make plan` installs infra/requirements.txt
    pytest.fail("the Pulumi SDK is missing: .venv/bin/pip install -r infra/requirements.txt", pytrace=False)

from infra.components import marsad_stack
from infra.components.servers import ProxmoxSettingsError, cloud_init_user_data
from infra.components.stack import HardwareProblems
from infra.handoff import HandoffRefused, hand_over, secrets_of
from infra.policy import guardrails
from services import deployment, hardware
from services.identity.realm import desired_realm
from services.policy import load_policies

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
RANDOM = "random:index/randomPassword:RandomPassword"
VM = "proxmoxve:index/vmLegacy:VmLegacy"
SNIPPET = "proxmoxve:index/fileLegacy:FileLegacy"
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key
ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMarsadTestKeyOnly it-team@onm"


# --- the harness --------------------------------------------------------------------------


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    inputs: dict          # as the mock received them (deserialized, camelCase)
    serialized: dict      # the RegisterResource request's properties, secrets still enveloped


@dataclass
class Secret:
    """A resolved Output that was secret."""
    value: Any


class MarsadMocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.generated: list[str] = []   # every value a random resource returned: none may leak

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == RANDOM:
            value = f"plaintext-{args.name}-{len(self.generated):03d}"
            self.generated.append(value)
            outputs["result"] = value
        elif args.typ == VM:
            outputs["vmId"] = args.inputs.get("vmId") or 100 + len(self.generated)
        elif args.typ == SNIPPET:
            raw = args.inputs["sourceRaw"]
            return f"{args.inputs['datastoreId']}:snippets/{raw['fileName']}", outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: MarsadMocks):
        super().__init__(mocks_)
        self.registered: list[Registered] = []
        self.component_outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(Registered(request.type, request.name, response.urn,
                                              rpc.deserialize_properties(request.object),
                                              json_format.MessageToDict(request.object)))
        return response

    def RegisterResourceOutputs(self, request):
        self.component_outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class Run:
    outputs: dict                  # resolved; secret values wrapped in Secret
    serialized_outputs: dict       # the stack outputs as the engine would receive them
    monitor: RecordingMonitor
    mocks: MarsadMocks
    warnings: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.monitor.registered if r.type == typ]


async def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [await _resolve(v) for v in value]
    if isinstance(value, pulumi.Output):
        resolved = await _resolve(await value.future())
        return Secret(resolved) if await value.is_secret() else resolved
    return value


def run(env: hardware.Environment, admin_ssh_keys=(ADMIN_KEY,), stack: str = "test") -> Run:
    mocks_ = MarsadMocks()
    monitor = RecordingMonitor(mocks_)
    pulumi.runtime.set_mocks(mocks_, project="marsad", stack=stack, preview=False, monitor=monitor)
    box: dict[str, Any] = {}

    def program():
        outputs = marsad_stack(env, load_policies(), admin_ssh_keys=list(admin_ssh_keys))
        box["outputs"] = _sync_await(_resolve(outputs))
        box["serialized"] = json_format.MessageToDict(_sync_await(rpc.serialize_properties(outputs, {})))

    _sync_await(run_pulumi_func(program))
    return Run(box["outputs"], box["serialized"], monitor, mocks_)


@functools.lru_cache(maxsize=None)
def run_shipped(name: str) -> Run:
    """One run per shipped environment, shared by the tests that only read it."""
    return run(hardware.load_environment(name))


def plain(value: Any) -> Any:
    """Resolved outputs with the Secret wrappers taken off."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def leaves(value: Any, path: str = "", secret: bool = False):
    """(path, value, secret) for every leaf of resolved outputs."""
    if isinstance(value, Secret):
        yield from leaves(value.value, path, True)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else k, secret)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]", secret)
    else:
        yield path, value, secret


def strings_outside_secrets(serialized: Any):
    """Every string of a serialized property map that is not inside a secret envelope: what the
    engine would store and show in plaintext."""
    if isinstance(serialized, dict):
        if serialized.get(SIG_KEY) == SECRET_SIG:
            return
        for key, value in serialized.items():
            yield key
            yield from strings_outside_secrets(value)
    elif isinstance(serialized, list):
        for value in serialized:
            yield from strings_outside_secrets(value)
    elif isinstance(serialized, str):
        yield serialized


def mask(inventory: dict) -> dict:
    """The inventory with every secret variable's value replaced by its name."""
    out = yaml.safe_load(yaml.safe_dump(inventory))
    for name in hardware.SECRETS:
        if name in out["all"]["vars"]:
            out["all"]["vars"][name] = f"<{name}>"
    return out


# --- environments ---------------------------------------------------------------------------

PROXMOX = {"node": "pve1", "image": "local:import/debian-13-genericcloud-amd64.qcow2",
           "gateway": "10.30.0.1", "dns_servers": ["10.30.0.1"]}


def write_environment(tmp_path: Path, data: dict) -> hardware.Environment:
    """An environment file in a hardware/ of its own (the real schema and profiles beside it)."""
    directory = tmp_path / "hardware"
    (directory / "environments").mkdir(parents=True, exist_ok=True)
    for name in ("schema.yaml", "profiles.yaml"):
        (directory / name).write_text((REPO / "hardware" / name).read_text())
    (directory / "environments" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return hardware.load_environment(data["name"], directory)


def proxmox_environment(tmp_path: Path, profile_name: str, *, backup_gb: float | None = 100,
                        extra: dict | None = None) -> hardware.Environment:
    """A Proxmox environment of the profile, each server sized exactly as the profile needs."""
    profile = hardware.load_profiles()[profile_name]
    servers = []
    for slot in profile.slots:
        need = profile.needs_of(slot.roles)
        for n in range(slot.count):
            disks = [{"name": "system", "size_gb": need.disk_gb.get("system", 0), "purpose": "system"}]
            if need.disk_gb.get("data"):
                disks.append({"name": "data", "size_gb": need.disk_gb["data"], "purpose": "data"})
            if backup_gb:
                disks.append({"name": "backup", "size_gb": backup_gb, "purpose": "backup"})
            servers.append({"name": f"{slot.name}{n + 1}", "address": f"10.30.0.{11 + len(servers)}",
                            "cpu": max(need.cpu, 1), "ram_gb": need.ram_gb, "disks": disks, "roles": list(slot.roles)})
    data = {"name": f"pve-{profile_name}", "kind": "proxmox", "profile": profile_name, "identity": "local",
            "domain": "marsad.pve.example", "ssh_user": "marsad-admin", "proxmox": dict(PROXMOX), "servers": servers}
    return write_environment(tmp_path, {**data, **(extra or {})})


# --- stacks and their configuration ----------------------------------------------------------


def test_each_stack_file_names_an_environment_of_its_own_name():
    stacks = sorted(INFRA.glob("Pulumi.*.yaml"))
    assert stacks, "no stack files"
    for path in stacks:
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        config = yaml.safe_load(path.read_text())["config"]
        assert config["marsad:environment"] == name, path.name
        assert hardware.load_environment(name).name == name


def test_shipped_environments_each_have_a_stack():
    stacks = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in INFRA.glob("Pulumi.*.yaml")}
    missing = {p.stem for p in (REPO / "hardware" / "environments").glob("*.yaml")} - stacks
    assert not missing, f"add infra/Pulumi.<env>.yaml (config: marsad:environment: <env>) for {sorted(missing)}"


def test_project_runs_the_program_in_the_repository_venv():
    project = yaml.safe_load((INFRA / "Pulumi.yaml").read_text())
    assert project["name"] == "marsad" and project["runtime"]["name"] == "python"
    assert (INFRA / project["runtime"]["options"]["virtualenv"]).resolve() == REPO / ".venv"
    assert set(project["config"]) == {"environment", "adminSshKeys"}


def test_requirements_are_pinned_and_installed_here():
    from importlib.metadata import version
    for line in (INFRA / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, pinned = line.split("==")
            assert version(name) == pinned, f"{name} {version(name)} installed, {pinned} pinned"


# --- machines -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab", "lab-all-in-one", "onm-production"])
def test_existing_servers_are_registered_not_created(name):
    env = hardware.load_environment(name)
    result = run_shipped(name)
    registered = {r.name: r for r in result.of_type("marsad:infra:BareMetalServer")}   # in any order: async
    assert sorted(registered) == sorted(s.name for s in env.servers)
    assert not result.of_type(VM) and not result.of_type(SNIPPET)
    for server in env.servers:
        record = registered[server.name]
        assert record.urn.endswith(f"marsad:infra:Servers$marsad:infra:BareMetalServer::{server.name}")  # parented
        outputs = result.monitor.component_outputs[record.urn]
        assert outputs["address"] == server.address and outputs["roles"] == server.roles
        assert [(d["purpose"], d["size_gb"]) for d in outputs["disks"]] == [(d.purpose, d.size_gb) for d in server.disks]
    assert plain(result.outputs["machines"]) == {
        s.name: {"name": s.name, "address": s.address, "kind": env.kind, "cpu": s.cpu, "ram_gb": s.ram_gb,
                 "roles": s.roles, "disks": [{"name": d.name, "size_gb": d.size_gb, "purpose": d.purpose} for d in s.disks]}
        for s in env.servers}


@pytest.mark.parametrize("profile_name", ["all-in-one", "standard", "high-availability"])
def test_proxmox_machines_per_profile(tmp_path, profile_name):
    env = proxmox_environment(tmp_path, profile_name)
    profile = env.profile
    result = run(env)
    vms = {r.name: r.inputs for r in result.of_type(VM)}
    assert len(vms) == sum(slot.count for slot in profile.slots) == len(env.servers)
    assert len(result.of_type(SNIPPET)) == len(vms)
    for server in env.servers:
        vm, need = vms[server.name], profile.needs_of(server.roles)
        assert vm["name"] == server.name and vm["nodeName"] == "pve1"
        assert vm["cpu"]["cores"] == server.cpu >= need.cpu
        assert vm["memory"]["dedicated"] == server.ram_gb * 1024 >= need.ram_gb * 1024
        sizes: dict[str, int] = {}
        for disk in vm["disks"]:
            purpose = disk["serial"].removeprefix("marsad-").rstrip("0123456789")
            sizes[purpose] = sizes.get(purpose, 0) + disk["size"]
        assert sizes == {p: server.disk_gb(p) for p in ("system", "data", "backup") if server.disk_gb(p)}
        for purpose, gb in need.disk_gb.items():
            assert sizes.get(purpose, 0) >= gb, (server.name, purpose)
        assert vm["disks"][0]["interface"] == "virtio0" and vm["disks"][0]["importFrom"] == PROXMOX["image"]
        assert vm["bootOrders"] == ["virtio0"]
        vm_id = result.monitor.resources[next(r.urn for r in result.of_type(VM) if r.name == server.name)].state["vmId"]
        assert result.outputs["machines"][server.name]["vm_id"] == vm_id   # Proxmox's id, once created


def test_proxmox_vm_is_configured_for_ansible(tmp_path):
    env = proxmox_environment(tmp_path, "standard")
    result = run(env)
    vm = next(r for r in result.of_type(VM) if r.name == "database1")
    assert vm.urn.endswith("marsad:infra:Servers$proxmoxve:index/vmLegacy:VmLegacy::database1")
    init = vm.inputs["initialization"]
    assert init["ipConfigs"] == [{"ipv4": {"address": "10.30.0.11/24", "gateway": "10.30.0.1"}}]
    assert init["dns"] == {"servers": ["10.30.0.1"], "domain": "marsad.pve.example"}
    snippet = next(r for r in result.of_type(SNIPPET) if r.name == "database1-cloud-init")
    assert init["userDataFileId"] == "local:snippets/marsad-pve-standard-database1.cloud-config.yaml"
    assert snippet.inputs["contentType"] == "snippets" and snippet.inputs["nodeName"] == "pve1"
    user_data = snippet.inputs["sourceRaw"]["data"]
    assert user_data.startswith("#cloud-config\n")
    config = yaml.safe_load(user_data)
    inventory_host = hardware.inventory(env)["all"]["hosts"]["database1"]
    admin = config["users"][0]
    assert admin["name"] == inventory_host["ansible_user"] == "marsad-admin"   # who Ansible connects as
    assert admin["ssh_authorized_keys"] == [ADMIN_KEY] and admin["lock_passwd"] is True
    assert config["ssh_pwauth"] is False and config["disable_root"] is True
    assert config["hostname"] == "database1" and config["fqdn"] == "database1.marsad.pve.example"
    serials = [d["serial"] for d in vm.inputs["disks"]]
    assert serials == ["marsad-system", "marsad-data", "marsad-backup"]
    assert [d["backup"] for d in vm.inputs["disks"]] == [True, True, False]   # vzdump skips the backup disk
    assert sorted(vm.inputs["tags"]) == ["backup", "database", "marsad", "pve-standard"]


def test_root_admin_gets_the_keys_on_root(tmp_path):
    env = proxmox_environment(tmp_path, "all-in-one", extra={"ssh_user": "root"})
    config = yaml.safe_load(cloud_init_user_data(env, env.servers[0], "root", [ADMIN_KEY], guest_agent=False))
    assert config["disable_root"] is False and config["ssh_authorized_keys"] == [ADMIN_KEY]
    assert "users" not in config and "packages" not in config


def test_server_proxmox_settings_override_the_environments(tmp_path):
    env = proxmox_environment(tmp_path, "all-in-one")
    data = yaml.safe_load(env.file.read_text())
    data["servers"][0]["proxmox"] = {"node": "pve2", "vm_id": 4100, "datastore": "ceph"}
    env = write_environment(tmp_path, data)
    vm = run(env).of_type(VM)[0].inputs
    assert vm["nodeName"] == "pve2" and vm["vmId"] == 4100
    assert {d["datastoreId"] for d in vm["disks"]} == {"ceph"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d["proxmox"].pop("image"), r"proxmox setting\(s\) image missing"),
    (lambda d: d["servers"][0].update(address="server1.pve.example"), "must be an IP address"),
])
def test_incomplete_proxmox_settings_are_refused(tmp_path, change, message):
    env = proxmox_environment(tmp_path, "all-in-one")
    data = yaml.safe_load(env.file.read_text())
    change(data)
    with pytest.raises(ProxmoxSettingsError, match=message):
        run(write_environment(tmp_path, data))


def test_new_vms_need_an_admin_key(tmp_path):
    with pytest.raises(ProxmoxSettingsError, match="admin SSH key"):
        run(proxmox_environment(tmp_path, "all-in-one"), admin_ssh_keys=())


def test_hardware_problems_stop_the_program(tmp_path):
    env = proxmox_environment(tmp_path, "all-in-one")
    data = yaml.safe_load(env.file.read_text())
    data["servers"][0]["ram_gb"] = 1
    with pytest.raises(HardwareProblems, match="has 1 GB of RAM"):
        run(write_environment(tmp_path, data))


def test_a_profile_not_deployable_yet_can_still_be_planned(tmp_path):
    env = proxmox_environment(tmp_path, "high-availability")
    assert not env.profile.deployable and hardware.check(env)   # check says "not deployable"
    assert len(run(env).of_type(VM)) == 7


# --- secrets --------------------------------------------------------------------------------


def test_secrets_cover_every_name_institution_and_client():
    policies = load_policies()
    result = run_shipped("onm-production")
    randoms = result.of_type(RANDOM)
    assert all("marsad:infra:Secrets$random:index/randomPassword:RandomPassword::" in r.urn for r in randoms)
    inventory_vars = plain(result.outputs["inventory"])["all"]["vars"]
    assert set(hardware.SECRETS) <= set(inventory_vars)
    assert set(result.outputs["institution_s3_keys"]) == set(policies.institutions)   # units included
    assert all(set(keys) == {"access_key", "secret_key"} for keys in result.outputs["institution_s3_keys"].values())
    # One secret per client the realm declares: the portal and an API client per institution.
    assert set(result.outputs["oidc_client_secrets"]) == set(desired_realm(policies).clients)
    values = [v for _, v, _ in leaves(result.outputs)]
    # The institutions' S3 keys are derived from objectstore_identity_seed, not drawn.
    assert len(randoms) == len(result.mocks.generated) == len(hardware.SECRETS) + len(desired_realm(policies).clients)
    assert all(g in values for g in result.mocks.generated)   # every generated value reaches an output


def test_secret_shapes():
    result = run_shipped("onm-production")
    shapes = {r.name: r.inputs for r in result.of_type(RANDOM)}
    assert shapes["objectstore_admin_access_key"] == {"length": 20, "special": False, "lower": False,
                                                      "upper": True, "numeric": True}
    assert shapes["postgresql_marsad_password"] == {"length": 43, "special": True, "overrideSpecial": "-_"}
    keys = plain(result.outputs["institution_s3_keys"])["MI-PAF"]
    assert len(keys["access_key"]) == 20 and keys["access_key"].isupper() and len(keys["secret_key"]) == 40


@pytest.mark.parametrize("name", ["onm-production", "lab"])
def test_institution_keys_are_the_ones_the_deployment_installs(name):
    """The stack's keys are what the objectstore role's filter derives from the same seed, so
    passing them to `marsad storage sync` rotates nothing."""
    # Loaded by path, as Ansible loads a filter plugin.
    plugin = runpy.run_path(str(Path(__file__).parents[1] / "playbooks/filter_plugins/marsad.py"))
    marsad_institution_credentials = plugin["FilterModule"]().filters()["marsad_institution_credentials"]
    outputs = plain(run_shipped(name).outputs)
    seed = outputs["inventory"]["all"]["vars"]["objectstore_identity_seed"]
    deployed = marsad_institution_credentials(seed)
    assert deployed and set(deployed) <= set(outputs["institution_s3_keys"])
    assert {code: outputs["institution_s3_keys"][code] for code in deployed} == deployed


def test_local_identity_has_no_oidc_clients():
    assert run_shipped("lab").outputs["oidc_client_secrets"] == {}


@pytest.mark.parametrize("name", ["onm-production", "lab"])
def test_every_secret_is_secret_and_nothing_else(name):
    outputs = run_shipped(name).outputs
    for path, _, secret in leaves({k: outputs[k] for k in ("institution_s3_keys", "oidc_client_secrets")}):
        assert secret, path
    for path, _, secret in leaves(outputs["inventory"]):
        variable = path.split(".")[-1]
        # Secrets hidden; hosts, groups and addresses readable in `pulumi preview`.
        assert secret == (path.startswith("all.vars.") and variable in hardware.SECRETS), path


@pytest.mark.parametrize("name", ["onm-production", "lab"])
def test_no_plaintext_secret_anywhere_the_engine_would_store(name):
    result = run_shipped(name)
    generated = result.mocks.generated
    places = {"stack outputs": result.serialized_outputs,
              **{f"outputs of {urn}": outputs for urn, outputs in result.monitor.component_outputs.items()},
              **{f"inputs of {r.urn}": r.serialized for r in result.monitor.registered}}
    for place, serialized in places.items():
        exposed = [s for s in strings_outside_secrets(serialized) if any(g in s for g in generated)]
        assert not exposed, f"plaintext secret in {place}: {exposed}"
    # The check can fail: the secrets are in those outputs, each inside a secret envelope.
    assert str(result.serialized_outputs).count(SECRET_SIG) >= len(generated)


def test_proxmox_stack_keeps_secrets_out_of_vm_inputs(tmp_path):
    result = run(proxmox_environment(tmp_path, "standard"))
    for record in result.of_type(VM) + result.of_type(SNIPPET):
        assert not [s for s in strings_outside_secrets(record.serialized) if any(g in s for g in result.mocks.generated)]


# --- the inventory --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab", "lab-all-in-one", "onm-production"])
def test_inventory_is_the_labs_for_the_same_hardware(name):
    env = hardware.load_environment(name)
    ours = plain(run_shipped(name).outputs["inventory"])
    # The very function the lab calls, with the values Pulumi generated...
    assert ours == hardware.inventory(env, {k: ours["all"]["vars"][k] for k in hardware.SECRETS})
    # ...and with the lab's own generated secrets: equal once secrets are masked.
    assert mask(ours) == mask(hardware.inventory(env, hardware.generate_secrets()))


def test_proxmox_inventory_is_the_labs_too(tmp_path):
    env = proxmox_environment(tmp_path, "standard")
    ours = plain(run(env).outputs["inventory"])
    assert mask(ours) == mask(hardware.inventory(env, hardware.generate_secrets()))
    assert {h["ansible_host"] for h in ours["all"]["hosts"].values()} == {s.address for s in env.servers}


def test_secret_embedded_in_a_larger_value_stays_secret(monkeypatch):
    # Should the inventory ever build a value around a secret (a URL with a password), that
    # whole value becomes secret, with the secret filled in.
    real = hardware.inventory

    def with_url(env, secrets=None, **kw):
        data = real(env, secrets, **kw)
        if secrets:
            data["all"]["vars"]["marsad_database_url"] = \
                f"postgresql://marsad:{secrets['postgresql_marsad_password']}@db/marsad?sslmode=verify-full"
        return data

    monkeypatch.setattr(hardware, "inventory", with_url)
    outputs = run(hardware.load_environment("lab")).outputs
    url = outputs["inventory"]["all"]["vars"]["marsad_database_url"]
    password = plain(outputs["inventory"]["all"]["vars"]["postgresql_marsad_password"])
    assert isinstance(url, Secret) and url.value == f"postgresql://marsad:{password}@db/marsad?sslmode=verify-full"


def test_deploy_uses_the_stacks_secrets_and_writes_the_stacks_inventory(tmp_path, monkeypatch):
    # make deploy-infra hands the stack's secrets over; make deploy then writes its inventory
    # (services.deployment.inventory_file): it must be the stack's `inventory` output, value for value.
    monkeypatch.setenv("MARSAD_DEPLOY_DIR", str(tmp_path / "deploy"))
    env = hardware.load_environment("onm-production")
    stack_inventory = plain(run_shipped("onm-production").outputs["inventory"])
    path = hand_over(env, secrets_of(stack_inventory))
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert yaml.safe_load(deployment.inventory_file(env).read_text()) == stack_inventory
    assert hand_over(env, secrets_of(stack_inventory)) == path          # again: nothing differs, fine


def test_handoff_never_replaces_secrets_the_servers_may_use(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSAD_DEPLOY_DIR", str(tmp_path / "deploy"))
    env = hardware.load_environment("onm-production")
    deployment.inventory_file(env)           # a deployment made before Pulumi: its own secrets
    before = (tmp_path / "deploy/onm-production/secrets.yml").read_text()
    with pytest.raises(HandoffRefused, match="already holds other values for backup_cipher_passphrase"):
        hand_over(env, secrets_of(plain(run_shipped("onm-production").outputs["inventory"])))
    assert (tmp_path / "deploy/onm-production/secrets.yml").read_text() == before


# --- the program as Pulumi runs it ----------------------------------------------------------


def test_main_exports_the_stack_outputs(monkeypatch):
    mocks_ = MarsadMocks()
    pulumi.runtime.set_mocks(mocks_, project="marsad", stack="lab", preview=False)
    pulumi.runtime.set_all_config({"marsad:environment": "lab"})
    root = pulumi.runtime.settings.get_root_resource()
    root.outputs.clear()
    monkeypatch.syspath_prepend(str(INFRA))   # Pulumi runs __main__.py with infra/ on sys.path
    box = {}

    def program():
        runpy.run_path(str(INFRA / "__main__.py"), run_name="__main__")
        box["outputs"] = _sync_await(_resolve(dict(root.outputs)))

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        pulumi.runtime.set_all_config({})
    assert set(box["outputs"]) == {"environment", "kind", "profile", "machines", "inventory",
                                   "institution_s3_keys", "oidc_client_secrets"}
    assert box["outputs"]["environment"] == "lab" and set(box["outputs"]["machines"]) == {"lab-db", "lab-storage", "lab-app"}


# --- the program against its own guardrails ---------------------------------------------------


def test_a_compliant_stack_passes_every_guardrail(tmp_path):
    result = run(proxmox_environment(tmp_path, "standard"))
    for record in result.monitor.registered:
        for rule in guardrails.RULES:
            if not guardrails._is_component(record.type):
                assert guardrails.check_resource(rule, record.type, record.inputs) == [], (rule, record.urn)
    for urn, outputs in result.monitor.component_outputs.items():
        typ = urn.split("::")[2].split("$")[-1]
        for rule in guardrails.RULES:
            assert guardrails.check_resource(rule, typ, rpc.deserialize_properties(_struct(outputs))) == [], (rule, urn)


def test_machines_without_backup_disk_are_caught_by_the_guardrail(tmp_path):
    result = run(proxmox_environment(tmp_path, "standard", backup_gb=None))
    found = {r.name: guardrails.check_resource("machine-has-backup-disk", r.type, r.inputs) for r in result.of_type(VM)}
    assert set(found) == {"database1", "storage1", "application1"} and all(found.values())


def test_registered_servers_without_backup_disk_are_reported(tmp_path):
    # The stack policy names each registered server that has no backup disk; the IT team
    # declares one in hardware/ (or, knowingly, lowers the policy's enforcement level).
    data = yaml.safe_load((REPO / "hardware/environments/onm-production.yaml").read_text())
    for server in data["servers"]:
        server["disks"] = [d for d in server["disks"] if d["purpose"] != "backup"]
    data["servers"][1]["disks"].append({"name": "backup", "size_gb": 8000, "purpose": "backup"})
    result = run(write_environment(tmp_path, data))
    resources = [type("R", (), {"resource_type": urn.split("::")[2].split("$")[-1], "urn": urn,
                                "props": rpc.deserialize_properties(_struct(outputs))})
                 for urn, outputs in result.monitor.component_outputs.items()]
    found = guardrails.stack_violations(resources)
    assert sorted(urn.rsplit("::", 1)[1] for urn, _ in found) == ["onm-app1", "onm-db1"]


def _struct(data: dict):
    from google.protobuf import struct_pb2
    message = struct_pb2.Struct()
    json_format.ParseDict(data, message)
    return message


def test_user_data_is_valid_cloud_config_for_every_profile(tmp_path):
    for profile_name in ("all-in-one", "standard"):
        env = proxmox_environment(tmp_path / profile_name, profile_name)
        for server in env.servers:
            text = cloud_init_user_data(env, server, "marsad-admin", [ADMIN_KEY])
            assert text.splitlines()[0] == "#cloud-config"
            assert yaml.safe_load(text)["packages"] == ["qemu-guest-agent"]
