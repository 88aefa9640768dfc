"""Sandboxes of target lab: made on a hardware lab's sandbox server, driven from here over SSH.

    marsad sandbox create tunis-0325 --target lab [--env lab]

The lab (`make lab`, `make deploy ENV=lab`) has a server carrying the `sandbox` role
(playbooks/roles/sandbox). There the sandbox is an ordinary local one, made by the deployed
Marsad as the marsad user (`marsad-sandbox create`), with its own SQLite database and object
folder under /srv/marsad-sandboxes, apart from the lab's PostgreSQL and object store; then
`marsad-sandbox publish` starts its portal (systemd unit marsad-sandbox@NAME) and has the
server's nginx serve it over TLS at https://SERVER/sandbox/NAME/.

Here, on the control machine, the sandbox keeps a manifest without the secret key, with the
lab's environment and server (`lab`), and the credentials sheet: `list`, `reset`, `progress`
and `destroy` then find it like a local one and act on the server.
"""
from __future__ import annotations

import json
import shlex
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from services import hardware
from services.cli import EXIT_NOT_FOUND   # the code the remote marsad command exits with
from services.sandbox import hosting
from services.sandbox.layout import Account, Sandbox, SandboxError, SandboxNotFound, folder_of

COMMAND = "/usr/local/sbin/marsad-sandbox"   # installed by the sandbox role


def environment(env: str | Path | hardware.Environment) -> hardware.Environment:
    if not isinstance(env, hardware.Environment):
        try:
            env = hardware.load_environment(env)
        except hardware.HardwareError as err:
            raise SandboxError(str(err)) from None
    if env.kind != "lab":
        raise SandboxError(f"target lab: environment {env.name} is of kind {env.kind}; sandboxes go only on a "
                           "hardware lab's servers, never on a production deployment")
    return env


def sandbox_server(env: hardware.Environment) -> hardware.Server:
    servers = env.servers_with("sandbox")
    if not servers:
        raise SandboxError(f"environment {env.name} has no server with the sandbox role: add `sandbox` to its "
                           f"application server's roles ({env.display_file}), then `make deploy ENV={env.name}`")
    return servers[0]


def create_arguments(name: str, *, trainees: int, trainers: int, institution: str, days: int, language: str,
                     pdf: bool, public_url: str) -> list[str]:
    """`marsad-sandbox create` as the sandbox server runs it: a local sandbox served behind its nginx."""
    return ["create", name, "--trainees", str(trainees), "--trainers", str(trainers), "--institution", institution,
            "--days", str(days), "--language", language, "--pdf" if pdf else "--no-pdf", "--host", "127.0.0.1",
            "--url-prefix", hosting.url_prefix(name), "--public-url", public_url]


class Remote:
    """The sandbox server of a lab environment, reached over the lab's SSH key as root."""

    def __init__(self, env: hardware.Environment):
        from services import lab

        self.env = environment(env)
        self.server = sandbox_server(self.env)
        self.lab = lab.Lab(self.env)
        if not self.lab.key_file.exists():
            raise SandboxError(f"the lab of {self.env.name} is not up on this machine (no {self.lab.key_file}): "
                               f"`make lab` and `make deploy ENV={self.env.name}` first")

    def run(self, arguments: list[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """`marsad-sandbox ARGUMENTS` on the server; its exit code 4 (not found) as SandboxNotFound."""
        command = shlex.join([COMMAND, *arguments])
        done = subprocess.run([*self.lab.ssh_args(self.server), command], capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            if done.returncode == EXIT_NOT_FOUND:
                raise SandboxNotFound(f"on {self.server.name}: {done.stderr.strip()}")
            raise SandboxError(f"on {self.server.name}, `{command}` failed ({done.returncode}):\n"
                               f"{(done.stderr or done.stdout).strip()}")
        return done

    def read(self, path: str) -> bytes:
        done = subprocess.run([*self.lab.ssh_args(self.server), shlex.join(["cat", "--", path])],
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            raise SandboxError(f"cannot read {path} on {self.server.name}: {done.stderr.decode(errors='replace')}")
        return done.stdout


def _remote_of(sb: Sandbox) -> Remote:
    if sb.target != "lab" or not sb.lab:
        raise SandboxError(f"sandbox {sb.name} is not on a lab")
    return Remote(sb.lab.get("env_file") or sb.lab["env"])


def answers(url: str, timeout: float = 10) -> int | None:
    """The HTTP status a sandbox's sign-in page answers with (None: no answer).

    The lab's certificate is self-signed, so it is not checked here; an operator's is.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/login", timeout=timeout, context=context) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def create(env, name: str, *, trainees: int, trainers: int, institution: str, days: int, language: str,
           pdf: bool, say: Callable[[str], None] = print) -> tuple[Sandbox, list[Path]]:
    remote = Remote(env)
    folder = folder_of(name)
    if folder.exists():
        raise SandboxError(f"sandbox {name} exists already ({folder}); destroy it first")
    public_url = f"https://{remote.server.address}{hosting.url_prefix(name)}"
    say(f"on {remote.server.name} ({remote.server.address}), environment {remote.env.name}")
    args = create_arguments(name, trainees=trainees, trainers=trainers, institution=institution, days=days,
                            language=language, pdf=pdf, public_url=public_url)
    made = remote.run(args, timeout=900)
    for line in made.stdout.splitlines():
        say(f"[{remote.server.name}] {line.strip()}")
    try:
        say(remote.run(["publish", name]).stdout.strip())
        sb, sheet = _keep_here(remote, name, folder)
    except BaseException:
        # Leave nothing half made on the server; the first error is the one to report.
        remote.run(["unpublish", name], check=False)
        remote.run(["destroy", name], check=False, timeout=300)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    status = answers(sb.url)
    if status != 200:
        raise SandboxError(f"sandbox {name} was made, but {sb.url}login answers {status or 'nothing'} "
                           f"(see `journalctl -u {hosting.unit(name)}` on {remote.server.name})")
    return sb, sheet


def _keep_here(remote: Remote, name: str, folder: Path) -> tuple[Sandbox, list[Path]]:
    """This machine's record of the sandbox: its manifest without the session key, and the sheet."""
    data = json.loads(remote.run(["show", name, "--json"]).stdout)
    remote_folder = data.pop("folder")
    data["accounts"] = [Account(**a) for a in data.get("accounts", ())]
    known = set(Sandbox.__dataclass_fields__) - {"folder", "secret_key", "target", "lab"}
    env_file = str(Path(remote.env.file).resolve()) if remote.env.file else ""
    sb = Sandbox(folder=folder, target="lab", **{k: v for k, v in data.items() if k in known},
                 lab={"env": remote.env.name, "env_file": env_file, "server": remote.server.name,
                      "address": remote.server.address, "folder": remote_folder})
    folder.mkdir(parents=True, mode=0o700)
    sb.save()
    sheet = []
    for filename in data.get("credentials", ()):
        local = folder / Path(filename).name
        local.touch(mode=0o600)   # passwords: readable by the operator only, as on the server
        local.write_bytes(remote.read(f"{remote_folder}/{Path(filename).name}"))
        sheet.append(local)
    return sb, sheet


def reset(sb: Sandbox) -> float:
    done = _remote_of(sb).run(["reset", sb.name, "--json"], timeout=300)
    seconds = json.loads(done.stdout)["seconds"]
    sb.timings["last_reset"] = seconds
    sb.note("reset", seconds=seconds)
    sb.save()
    return seconds


def progress(sb: Sandbox) -> dict:
    """{trainee: {exercise code: {"state", "detail"}}} as the sandbox server reads it."""
    return json.loads(_remote_of(sb).run(["progress", sb.name, "--json"], timeout=300).stdout)


def leftovers(sb: Sandbox, remote: Remote | None = None) -> list[str]:
    """What of `sb` is still there, on the server (unit, nginx location, folder) and here."""
    remote = remote or _remote_of(sb)
    where = remote.server.name
    found = [f"{where}: {item}" for item in remote.run(["hosted", sb.name]).stdout.splitlines() if item.strip()]
    shown = remote.run(["show", sb.name, "--json"], check=False)
    if shown.returncode != EXIT_NOT_FOUND:
        found.append(f"{where}: sandbox {sb.name} ({sb.lab.get('folder')})")
    if sb.folder.exists():
        found.append(str(sb.folder))
    return found


def destroy(sb: Sandbox) -> list[str]:
    remote = _remote_of(sb)
    remote.run(["unpublish", sb.name])
    destroyed = remote.run(["destroy", sb.name], check=False, timeout=300)
    if destroyed.returncode not in (0, EXIT_NOT_FOUND):   # gone already: finish the rest
        raise SandboxError(f"on {remote.server.name}: {destroyed.stderr.strip()}")
    shutil.rmtree(sb.folder, ignore_errors=True)
    left = leftovers(sb, remote)
    if left:
        raise SandboxError(f"sandbox {sb.name}: still there after destroy: {', '.join(left)}")
    return [f"{remote.server.name}: {hosting.unit(sb.name)}, nginx location {hosting.url_prefix(sb.name)}, "
            f"{sb.lab.get('folder')} (database, objects, accounts)", str(sb.folder)]


def serving(sb: Sandbox) -> bool:
    return answers(sb.url, timeout=3) == 200

