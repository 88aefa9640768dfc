"""Where a sandbox lives and what it remembers about itself: the manifest.

    <root>/<name>/                       root: MARSAD_SANDBOX_ROOT, else MARSAD_VAR_DIR/sandboxes
        sandbox.json                     the manifest (no passwords; the portal's secret key: mode 0600)
        marsad.db                        the sandbox's SQLite database (target local, no PostgreSQL)
        objects/                         its object store folder (LocalStore), unless on S3
        seed/                            the seeded state reset copies back: marsad.db, objects/
        files/<username>/                practice files handed to each trainee (answer keys for trainers)
        credentials.csv|html|pdf         the trainer's credentials sheet (mode 0600)
        portal.env                       the portal's environment, for a service manager (mode 0600)

A sandbox of target lab lives on the lab's sandbox server in that layout; the control machine
keeps only its manifest (without the secret key) and its credentials sheet, in the same place.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.config import SandboxEnv, Settings, section

MANIFEST = "sandbox.json"
# Short enough to name a PostgreSQL database (marsad_sbx_<name>_seed) and an S3 bucket prefix
# (sbx-<name>, at most 32 characters); lowercase so the three stay the same word.
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,22}[a-z0-9]|[a-z]")
TARGETS = ("local", "lab")


class SandboxError(RuntimeError):
    """A sandbox command cannot do what was asked; the message says why and what to do."""


class SandboxNotFound(SandboxError):
    pass


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise SandboxError(f"sandbox name {name!r}: 1-24 lowercase letters, digits or '-', starting with a letter")
    return name


def sandboxes_root(environ=None) -> Path:
    explicit = section(SandboxEnv, environ).sandbox_root
    if explicit:
        return explicit.resolve()
    return (section(Settings, environ).var_dir / "sandboxes").resolve()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass
class Account:
    """A sandbox account as the manifest lists it (its password is only on the credentials sheet)."""

    username: str
    kind: str            # trainee | trainer | roleplay
    role: str
    institution: str
    label: str = ""      # what the account is for, for the sheet


@dataclass
class Sandbox:
    name: str
    folder: Path
    target: str = "local"
    institution: str = "MI-PAF"
    trainees: int = 0
    trainers: int = 1
    created: str = ""              # ISO timestamp, UTC
    expires: str = ""              # ISO date: the sandbox is expired from that day on
    host: str = "127.0.0.1"
    port: int = 0
    # Behind a web front (target lab): the path it forwards to the portal, and the address trainees use.
    url_prefix: str = ""
    public_url: str = ""
    # Target lab, on the control machine: the environment and the server the sandbox lives on.
    lab: dict = field(default_factory=dict)
    secret_key: str = ""
    database: dict = field(default_factory=lambda: {"kind": "sqlite"})
    storage: dict = field(default_factory=lambda: {"kind": "local"})
    content: dict = field(default_factory=dict)     # seeded year, practice dataset and month, rows
    accounts: list[Account] = field(default_factory=list)
    timings: dict = field(default_factory=dict)     # seconds of create steps and of the last reset
    history: list[dict] = field(default_factory=list)

    # --- paths ---
    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    @property
    def sqlite_path(self) -> Path:
        return self.folder / "marsad.db"

    @property
    def objects_dir(self) -> Path:
        return self.folder / "objects"

    @property
    def seed_dir(self) -> Path:
        return self.folder / "seed"

    @property
    def files_dir(self) -> Path:
        return self.folder / "files"

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/"

    # --- state ---
    def expired(self, today: dt.date | None = None) -> bool:
        if not self.expires:
            return False
        return (today or utcnow().date()) >= dt.date.fromisoformat(self.expires)

    def trainee_accounts(self) -> list[Account]:
        return [a for a in self.accounts if a.kind == "trainee"]

    def account(self, username: str) -> Account | None:
        return next((a for a in self.accounts if a.username == username), None)

    def note(self, event: str, **details) -> None:
        self.history.append({"at": utcnow().isoformat(), "event": event, **details})

    def save(self) -> None:
        data = asdict(self)
        data.pop("folder")
        tmp = self.manifest_path.with_suffix(".tmp")
        # The manifest holds the portal's session key: readable by the operator only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
        os.replace(tmp, self.manifest_path)

    @classmethod
    def load(cls, folder: Path) -> Sandbox:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SandboxNotFound(f"no sandbox {folder.name!r} (no {path})") from None
        data["accounts"] = [Account(**a) for a in data.get("accounts", ())]
        known = {f for f in cls.__dataclass_fields__}
        return cls(folder=folder, **{k: v for k, v in data.items() if k in known})


def folder_of(name: str, environ=None) -> Path:
    return sandboxes_root(environ) / check_name(name)


def load(name: str, environ=None) -> Sandbox:
    return Sandbox.load(folder_of(name, environ))


def all_sandboxes(environ=None) -> list[Sandbox]:
    root = sandboxes_root(environ)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if (folder / MANIFEST).is_file():
            found.append(Sandbox.load(folder))
    return found
