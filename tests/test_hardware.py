"""hardware/ (servers, profiles, sizing checks, the Ansible inventory) and the shape of playbooks/."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services import deployment, hardware
from services.cli import main

REPO = Path(__file__).resolve().parents[1]
ROLES_DIR = REPO / "playbooks" / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir())


def write_env(tmp_path: Path, name: str = "custom", **changes) -> Path:
    data = yaml.safe_load((REPO / "hardware/environments/onm-production.yaml").read_text())
    data["name"] = name
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def messages(problems) -> str:
    return "\n".join(map(str, problems))


# --- the repository's environments and profiles --------------------------------------------


@pytest.mark.parametrize("name", hardware.environment_names())
def test_every_environment_is_valid(name):
    env = hardware.load_environment(name)
    assert hardware.check(env) == [], messages(hardware.check(env))


def test_profiles():
    profiles = hardware.load_profiles()
    assert set(profiles) == {"all-in-one", "standard", "high-availability"}
    assert [s.name for s in profiles["standard"].slots] == ["database", "storage", "application"]
    assert len(profiles["all-in-one"].slots) == 1
    assert not profiles["high-availability"].deployable


def test_lab_is_the_standard_profile_on_a_private_network():
    env = hardware.load_environment("lab")
    assert env.kind == "lab" and env.profile.name == "standard" and len(env.servers) == 3
    assert env.lab.network.is_private and env.lab.gateway.endswith(".1")


def test_load_by_path(tmp_path):
    env = hardware.load_environment(write_env(tmp_path))
    assert env.name == "custom" and [s.name for s in env.servers] == ["onm-db1", "onm-store1", "onm-app1"]


# --- sizing and placement -------------------------------------------------------------------


def test_a_key_written_twice_is_refused_like_in_policies(tmp_path):
    """YAML keeps the second of two equal keys silently: hardware files are checked for them as
    policies/ is (services.datafiles), with the same message."""
    path = write_env(tmp_path)
    path.write_text(path.read_text() + "profile: all-in-one\n")
    with pytest.raises(hardware.HardwareError) as err:
        hardware.load_environment(path)
    assert [(p.path, p.message.split(" (")[0]) for p in err.value.problems] == [("profile", "duplicate key 'profile'")]


def test_policies_and_hardware_translate_schema_errors_alike():
    import jsonschema

    from services import datafiles

    validator = jsonschema.Draft202012Validator({"type": "object", "properties": {
        "ram_gb": {"type": "number", "exclusiveMinimum": 0}, "count": {"type": "integer"}}})
    assert [p.message for p in datafiles.validate(validator, {"ram_gb": 0, "count": "two"}, "f.yaml")] == [
        "expected integer, found text", "must be more than 0, found 0"]


def test_too_little_ram_is_named(tmp_path):
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][0]["ram_gb"] = 2
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    problems = hardware.check(hardware.load_environment(path))
    assert len(problems) == 1
    text = str(problems[0])
    assert problems[0].path == "servers[0].ram_gb"
    assert "onm-db1 has 2 GB of RAM" in text and "need at least 6 GB" in text and "standard" in text


def test_too_little_disk_and_cpu(tmp_path):
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][1]["disks"] = [{"name": "system", "size_gb": 20, "purpose": "system"}]
    data["servers"][1]["cpu"] = 1
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    text = messages(hardware.check(hardware.load_environment(path)))
    assert "onm-store1 has 1 CPU core(s)" in text
    assert "onm-store1 has 20 GB of system disk" in text and "need at least 109 GB" in text


def test_duplicate_names_and_addresses(tmp_path):
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][1]["name"] = "onm-db1"
    data["servers"][2]["address"] = data["servers"][0]["address"]
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    text = messages(hardware.check(hardware.load_environment(path)))
    assert "server name 'onm-db1' is also servers[0]" in text
    assert "address 10.20.0.11 is also the address of servers[0]" in text


def test_missing_and_misplaced_roles(tmp_path):
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][2]["roles"] = ["portal", "nginx"]        # no worker: matches no server of the profile
    data["servers"][1]["roles"] = ["objectstore", "database"]  # not a standard server either
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    text = messages(hardware.check(hardware.load_environment(path)))
    assert "onm-app1 carries portal, nginx, which matches no server of profile standard" in text
    assert "profile standard needs 1 application server(s)" in text
    assert "identity is keycloak but no server carries the keycloak role" in text


def test_identity_local_with_keycloak_is_refused(tmp_path):
    env = hardware.load_environment(write_env(tmp_path, identity="local"))
    assert "identity is local but onm-app1 carries the keycloak role" in messages(hardware.check(env))


def test_lab_addresses_inside_the_lab_network(tmp_path):
    data = yaml.safe_load((REPO / "hardware/environments/lab.yaml").read_text())
    data["servers"][0]["address"] = "10.99.0.5"
    data["servers"][1]["address"] = data["lab"]["network"].replace("0/24", "1")
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    text = messages(hardware.check(hardware.load_environment(path)))
    assert "10.99.0.5 must be a host address of 10.213.13.0/24" in text
    assert "10.213.13.1 must be a host address" in text


def test_schema_problems_have_a_path(tmp_path):
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][0]["ram"] = 4
    data["servers"][0]["roles"] = ["database", "mainframe"]
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(hardware.HardwareError) as err:
        hardware.load_environment(path)
    text = messages(err.value.problems)
    assert "servers[0].ram: unexpected key" in text
    assert "servers[0].roles[1]: unknown role 'mainframe'" in text


def test_unknown_environment():
    with pytest.raises(hardware.HardwareError, match="no environment 'atlantis'; known: .*lab"):
        hardware.load_environment("atlantis")


# --- the inventory --------------------------------------------------------------------------


def test_inventory_groups_and_variables():
    env = hardware.load_environment("onm-production")
    secrets = hardware.generate_secrets()
    data = hardware.inventory(env, secrets)
    everything = data["all"]
    assert set(everything["children"]) == set(hardware.ROLES)
    assert list(everything["children"]["database"]["hosts"]) == ["onm-db1"]
    assert list(everything["children"]["keycloak"]["hosts"]) == ["onm-app1"]
    host = everything["hosts"]["onm-db1"]
    assert host["ansible_host"] == "10.20.0.11" and host["ansible_user"] == "marsad-admin"
    assert host["marsad_roles"] == ["database", "backup", "monitoring"]
    assert {"name": "data", "size_gb": 1920.0, "purpose": "data", "device": "/dev/sdb"} in host["marsad_disks"]
    variables = everything["vars"]
    assert variables["marsad_profile"] == "standard" and variables["marsad_domain"] == "marsad.onm.example"
    assert variables["marsad_addresses"]["portal"] == ["10.20.0.13"]
    assert variables["keycloak_archive"].endswith(".tar.gz")   # the environment's vars
    assert variables["postgresql_marsad_password"] == secrets["postgresql_marsad_password"]
    yaml.safe_load(yaml.safe_dump(data))  # YAML-able


def test_lab_inventory_names_the_proxy():
    variables = hardware.inventory(hardware.load_environment("lab"))["all"]["vars"]
    assert variables["marsad_http_proxy"] == "http://10.213.13.1:3142"


def test_unknown_secret_refused():
    with pytest.raises(ValueError, match="unknown secret"):
        hardware.inventory(hardware.load_environment("lab"), {"root_password": "x"})


def test_generated_secrets_are_kept():
    first = hardware.generate_secrets()
    assert set(first) == set(hardware.SECRETS) and all(len(v) >= 16 for v in first.values())
    assert hardware.generate_secrets(first) == first


def test_parse_recap():
    output = """PLAY RECAP *********
lab-app                    : ok=62   changed=0    unreachable=0    failed=0    skipped=10   rescued=0    ignored=0
lab-db                     : ok=69   changed=2    unreachable=0    failed=0    skipped=11   rescued=0    ignored=0
"""
    recap = deployment.parse_recap(output)
    assert recap["lab-db"]["changed"] == 2 and recap["lab-app"]["ok"] == 62


# --- the command line -----------------------------------------------------------------------


def test_cli_check_ok_and_problems(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["hardware", "check", "lab"])
    assert result.exit_code == 0 and "lab OK: profile standard" in result.output
    data = yaml.safe_load(write_env(tmp_path).read_text())
    data["servers"][0]["ram_gb"] = 1
    bad = tmp_path / "custom.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = runner.invoke(main, ["hardware", "check", str(bad)])
    assert result.exit_code == 1
    assert "servers[0].ram_gb: server onm-db1 has 1 GB of RAM" in result.output


def test_cli_inventory(tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(yaml.safe_dump(hardware.generate_secrets()))
    out = tmp_path / "inventory.yml"
    result = CliRunner().invoke(main, ["hardware", "inventory", "onm-production", "--secrets", str(secrets),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0
    assert yaml.safe_load(out.read_text())["all"]["children"]["nginx"]["hosts"] == {"onm-app1": {}}


def test_cli_unknown_environment():
    result = CliRunner().invoke(main, ["hardware", "check", "atlantis"])
    assert result.exit_code == 4


# --- playbooks: the shape of the roles ------------------------------------------------------


def test_site_covers_the_roles():
    plays = yaml.safe_load((REPO / "playbooks/site.yml").read_text())
    # A play names its roles, or (the file integrity baseline at the end) includes a role's tasks.
    used = {role for play in plays for role in play.get("roles", [])}
    included = {task["ansible.builtin.include_role"]["name"] for play in plays for task in play.get("tasks", [])
                if "ansible.builtin.include_role" in task}
    assert used | included == set(ROLES)
    for name in ("common", "hardening", "postgresql", "objectstore", "keycloak", "portal", "worker", "nginx",
                 "backup"):
        assert name in ROLES


def test_sandbox_and_nginx_roles_name_the_same_location_folder():
    # Two roles, two plays: each declares the folder; they must agree.
    nginx = yaml.safe_load((ROLES_DIR / "nginx/defaults/main.yml").read_text())
    sandbox = yaml.safe_load((ROLES_DIR / "sandbox/defaults/main.yml").read_text())
    assert nginx["nginx_sandbox_locations"] == sandbox["sandbox_nginx_dir"]


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role):
    folder = ROLES_DIR / role
    for part in ("defaults/main.yml", "tasks/main.yml", "handlers/main.yml", "meta/main.yml",
                 "meta/argument_specs.yml"):
        assert (folder / part).is_file(), f"{role}: {part} missing"
    # A thin tasks/main.yml: it only includes per-concern files (or a shared role's).
    for task in yaml.safe_load((folder / "tasks/main.yml").read_text()):
        modules = set(task) - {"name", "tags", "when", "loop", "loop_control", "vars"}
        assert modules <= {"ansible.builtin.include_tasks", "ansible.builtin.include_role",
                           "ansible.builtin.import_tasks"}, f"{role}: {task['name']}"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_prefixed_commented_and_specified(role):
    folder = ROLES_DIR / role
    text = (folder / "defaults/main.yml").read_text()
    defaults = yaml.safe_load(text) or {}
    assert all(name.startswith(f"{role}_") for name in defaults), f"{role}: unprefixed default"
    assert text.lstrip().startswith("#"), f"{role}: defaults/main.yml starts with a comment saying what it is"
    specs = yaml.safe_load((folder / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]
    options = specs.get("options", {})
    assert set(defaults) <= set(options), f"{role}: defaults without argument spec: {set(defaults) - set(options)}"
    assert all(o.get("description") for o in options.values())


def test_every_playbook_file_is_yaml():
    for path in (REPO / "playbooks").rglob("*.yml"):
        yaml.safe_load(path.read_text())


@pytest.mark.skipif(shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None,
                    reason="ansible-core is not installed (playbooks/requirements.txt; `make deploy` installs it)")
@pytest.mark.parametrize("playbook", ["site.yml", "restore-drill.yml"])
def test_playbooks_syntax(tmp_path, playbook):
    env = hardware.load_environment("lab")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(hardware.inventory(env, hardware.generate_secrets())))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i", str(inventory),
         str(REPO / "playbooks" / playbook)],
        capture_output=True, text=True, timeout=120,
        env={"ANSIBLE_CONFIG": str(REPO / "playbooks/ansible.cfg"), "PATH": "/usr/bin:/bin",
             "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_server_dependencies_are_pinned_in_one_place():
    # The servers install Marsad from the wheelhouse and nothing beside it: every runtime
    # dependency, gunicorn included, is pinned exactly in pyproject.toml.
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("gunicorn==") for d in deps)
    assert all(re.fullmatch(r"[A-Za-z0-9_.\[\]-]+==[0-9][A-Za-z0-9.]*", d) for d in deps), deps


# --- the lab's pure parts -------------------------------------------------------------------


def test_lab_names():
    from services.lab import Lab, image_key

    env = hardware.load_environment("lab")
    lab = Lab(env, state_root=Path("/nonexistent"))
    assert image_key("trixie") == image_key("trixie") != image_key("bookworm")
    veths = {lab.veth(s) for s in lab.servers}
    assert len(veths) == len(lab.servers) and all(len(v) <= 15 for v in veths)
    assert lab.netns(env.servers[0]) == "marsad-lab-lab-db"
    assert lab.servers[-1].name == "lab-drill"


def test_lab_servers_get_cgroups_of_their_own():
    # Containers sharing a cgroup tree see each other's units: each server of each lab has its own.
    from services.lab import Lab

    labs = [Lab(hardware.load_environment(name), state_root=Path("/nonexistent")) for name in ("lab", "lab-all-in-one")]
    folders = [c for lab in labs for server in lab.servers for c in lab.cgroups(server)]
    assert folders and len(set(folders)) == len(folders)
    assert all(folder.parts[:3] == ("/", "sys", "fs") and folder.parent.name == "marsad-lab" for folder in folders)


def test_lab_refuses_other_kinds():
    from services.lab import Lab, LabError

    with pytest.raises(LabError, match="not lab"):
        Lab(hardware.load_environment("onm-production"))


# --- deployment state: one module, no import loop ---------------------------------------------


def _imports(module: str) -> set[str]:
    """The services modules `module` imports, at the top or inside a function."""
    import ast

    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("services"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("services")}
    return found


def test_deployment_state_modules_form_no_import_loop():
    layers = ["services.datafiles", "services.policy", "services.hardware", "services.lab", "services.deployment"]
    for i, module in enumerate(layers):
        above = set(layers[i + 1:])
        assert not _imports(module) & above, f"{module} imports {sorted(_imports(module) & above)}"


def test_only_services_deployment_writes_secrets_yml():
    """Every write of secrets.yml goes through deployment.write_secrets: no other module opens,
    touches or writes a path it builds from that name."""
    writes = re.compile(r"secrets_(?:file|path)\.(?:write_text|touch|open)|\"secrets\.yml\"\)?\.(?:write_text|touch|open)")
    writers = [p.relative_to(REPO).as_posix() for folder in ("services", "infra") for p in (REPO / folder).rglob("*.py")
               if writes.search(p.read_text()) and p.name != "deployment.py"]
    assert writers == []
    assert writes.search((REPO / "services/deployment.py").read_text()) is None   # it writes through `path`
    assert "def write_secrets" in (REPO / "services/deployment.py").read_text()


def test_lab_inventory_reaches_the_servers_with_the_labs_key_and_keeps_its_secrets(tmp_path):
    from services.lab import Lab

    the_lab = Lab(hardware.load_environment("lab"), state_root=tmp_path)
    the_lab.state.mkdir()
    first = deployment.keep_secrets(the_lab.state)
    assert deployment.keep_secrets(the_lab.state) == first and (the_lab.secrets_file.stat().st_mode & 0o777) == 0o600
    data = deployment.lab_inventory(the_lab, first)
    assert data["all"]["vars"]["ansible_ssh_private_key_file"] == str(the_lab.key_file)
    assert {k: data["all"]["vars"][k] for k in hardware.SECRETS} == first
    path = deployment.write_inventory(the_lab.state, data)
    assert path == the_lab.inventory_file and yaml.safe_load(path.read_text()) == data
