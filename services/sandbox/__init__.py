"""Training sandboxes: isolated copies of Marsad for capacity building.

A sandbox is a whole small Marsad of its own: its database (SQLite file, or a database on a
PostgreSQL server set apart for sandboxes), its object store (folder, or its own S3 buckets),
its local accounts (trainees, trainers, role-play accounts), its portal on its own port, and
an expiry date. It is seeded with synthetic data and practice files for the exercises
(services/sandbox/exercises/), and the seeded state is kept so that `reset` restores it in
seconds. Everything of it is named after it, so `destroy` removes exactly that and checks that
nothing is left.

    sb, sheet = create("tunis-0325", trainees=20)   # `marsad sandbox create`
    reset("tunis-0325")
    progress_table(load("tunis-0325"))
    destroy("tunis-0325")

Isolation inside the code: whoever works on a sandbox's database does so within
`services.policy.serving_sandbox(name)`, and the sandbox's principals carry `sandbox=name`,
so the policy decision seals them in (a sandbox principal reaches only resources of its
sandbox; the trainee role counts only there). Safety on production hosts: services/sandbox/safety.py.

Targets: `local` (this machine) and `lab`: the sandbox server of a hardware lab deployed with
the `sandbox` role (services/sandbox/onlab.py drives it over SSH; there the sandbox is a local
one, served by systemd behind the server's nginx: services/sandbox/hosting.py).
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Callable

from services.config import SandboxEnv, section
from services.sandbox.backends import database_of, objects_of
from services.sandbox.layout import (TARGETS, Sandbox, SandboxError, SandboxNotFound, all_sandboxes, check_name,
                                     folder_of, load, sandboxes_root, utcnow)
from services.sandbox.safety import Refused, ensure_allowed, refusals

__all__ = ["Refused", "Sandbox", "SandboxError", "SandboxNotFound", "all_sandboxes", "create", "destroy",
           "environ", "leftovers", "load", "progress_table", "refusals", "reset", "sandboxes_root"]

PORTS = range(5101, 6000)
MAX_TRAINEES = 200
# MARSAD_* settings a sandbox's portal keeps from the host; every other one (database, object
# store, Keycloak, secret key...) is production's business and is dropped.
KEPT_SETTINGS = ("MARSAD_POLICIES_DIR", "MARSAD_DEFAULT_LANGUAGE", "MARSAD_TIMEZONE", "MARSAD_MAX_UPLOAD_MB",
                 "MARSAD_SESSION_HOURS", "MARSAD_SESSION_IDLE_MINUTES", "MARSAD_MAX_STORED_ERRORS",
                 "MARSAD_LOGIN_ATTEMPTS_PER_MINUTE")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise SandboxError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host if host not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError:
            return False
    return True


def _pick_port(host: str) -> int:
    taken = {sb.port for sb in all_sandboxes()}
    for port in PORTS:
        if port not in taken and _port_is_free(host, port):
            return port
    raise SandboxError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for another sandbox portal")


def environ(sb: Sandbox, base=None) -> dict[str, str]:
    """The environment a process serving `sb` runs with: the sandbox's settings, none of the host's."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith("MARSAD_") or k in KEPT_SETTINGS}
    database, objects = database_of(sb), objects_of(sb)
    env.update({
        "MARSAD_ENV": "sandbox",
        "MARSAD_SANDBOX": sb.name,
        "MARSAD_SANDBOX_ROOT": str(sb.folder.parent),
        "MARSAD_VAR_DIR": str(sb.folder),
        "MARSAD_DATABASE_URL": database.url,
        "MARSAD_SECRET_KEY": sb.secret_key,
        "MARSAD_LOCAL_ACCOUNTS": "1",
        "MARSAD_SANDBOX_PORT": str(sb.port),
        # On its own port over plain HTTP, unless a TLS front serves it (target lab).
        "MARSAD_COOKIE_SECURE": "1" if sb.public_url.startswith("https://") else "0",
        "MARSAD_TRUSTED_PROXIES": "1" if sb.url_prefix else "0",
    })
    if objects.kind == "local":
        env.update({"MARSAD_STORAGE": "local", "MARSAD_STORAGE_DIR": str(objects.live)})
    else:
        env.update(objects.environ())
    return env


def write_portal_env(sb: Sandbox) -> Path:
    """The portal's environment as a file a service manager reads (systemd's EnvironmentFile)."""
    env = {k: v for k, v in environ(sb).items() if k.startswith("MARSAD_")}
    path = sb.folder / "portal.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds the session key
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.writelines(f"{k}={v}\n" for k, v in sorted(env.items()))
    return path


def create(name: str, *, trainees: int = 20, trainers: int = 1, institution: str = "MI-PAF", days: int = 14,
           target: str = "local", host: str = "127.0.0.1", port: int | None = None, language: str = "ar",
           pdf: bool = True, url_prefix: str = "", public_url: str = "", env: str = "lab",
           today: dt.date | None = None, say: Callable[[str], None] = print) -> tuple[Sandbox, list[Path]]:
    """Create and seed sandbox `name`; returns it and the credentials sheet's files.

    Target lab: on hardware environment `env`'s sandbox server (services/sandbox/onlab.py).
    `url_prefix` and `public_url`: the portal is served under that path by a web front.
    """
    from services import db
    from services.catalog import default_catalog
    from services.policy import load_policies
    from services.sandbox import seed
    from services.sandbox.credentials import write_sheet
    from services.sandbox.training import load_exercises

    ensure_allowed()
    check_target(target)
    check_name(name)
    if target == "lab":
        from services.sandbox import onlab

        return onlab.create(env, name, trainees=trainees, trainers=trainers, institution=institution, days=days,
                            language=language, pdf=pdf, say=say)
    if url_prefix and not (url_prefix.startswith("/") and url_prefix.endswith("/")):
        raise SandboxError(f"--url-prefix {url_prefix!r}: a path that starts and ends with '/'")
    if not 1 <= trainees <= MAX_TRAINEES:
        raise SandboxError(f"--trainees: between 1 and {MAX_TRAINEES}")
    if trainers < 1:
        raise SandboxError("--trainers: at least 1")
    if days < 1:
        raise SandboxError("--days: at least 1")
    folder = folder_of(name)
    if folder.exists():
        raise SandboxError(f"sandbox {name} exists already ({folder}); reset it, or destroy it first")
    started = time.perf_counter()
    policies, catalog = load_policies(), default_catalog()
    today = today or utcnow().date()
    sb = Sandbox(name=name, folder=folder, target=target, institution=institution, trainees=trainees,
                 trainers=trainers, created=utcnow().isoformat(), expires=(today + dt.timedelta(days=days)).isoformat(),
                 host=host, port=port or 0, secret_key=secrets.token_urlsafe(48), url_prefix=url_prefix,
                 public_url=public_url)
    apart = section(SandboxEnv)  # a PostgreSQL server and an S3 endpoint set apart for sandboxes, if any
    sb.database = {"kind": "postgresql"} if apart.sandbox_database_url else {"kind": "sqlite"}
    sb.storage = ({"kind": "s3", "prefix": f"sbx-{name}"} if apart.sandbox_s3_endpoint
                  else {"kind": "local"})
    sb.accounts = seed.plan_accounts(sb, policies)     # refuses before anything is made
    database, objects = database_of(sb), objects_of(sb)
    sb.port = port or _pick_port(host)
    try:
        folder.mkdir(parents=True, mode=0o700)
    except FileExistsError:  # another create of the same name got there first
        raise SandboxError(f"sandbox {name} exists already ({folder})") from None
    sb.save()
    timings: dict = {}
    made: list = []   # what this create made, and may therefore remove if it fails
    try:
        with seed.timed(timings, "database"):
            objects.provision()
            made.append(objects)
            database.provision()
            made.append(database)
            engine = database.engine()
            db.upgrade(engine, catalog)
        try:
            with seed.timed(timings, "accounts"), db.session(engine) as s:
                passwords = seed.add_accounts(s, sb.accounts, language)
            say(f"{len(sb.accounts)} accounts ({trainees} trainees)")
            data_year, practice_year = seed.default_years(today)
            with seed.timed(timings, "data"):
                loaded = seed.load_data(sb, engine, objects.seed_store(), policies, catalog, data_year, say)
            say(f"synthetic {data_year}: " + ", ".join(f"{k} {v['rows']:,}" for k, v in loaded.items()))
            read = sorted({e.params["indicator"] for e in load_exercises() if "indicator" in e.params})
            with seed.timed(timings, "indicators"):
                indicators = seed.compute_indicators(sb, engine, policies, tuple(read), say)
            with seed.timed(timings, "practice_files"):
                practice = seed.practice_files(sb, policies, catalog, practice_year, 1)
        finally:
            engine.dispose()
        with seed.timed(timings, "snapshot"):
            database.snapshot()
            objects.publish()
        sb.content = {"data_year": data_year, "datasets": loaded, "indicators": indicators, "practice": practice}
        with seed.timed(timings, "credentials"):
            sheet = write_sheet(sb, passwords, pdf=pdf)
        timings["total"] = round(time.perf_counter() - started, 3)
        sb.timings = {"create": timings}
        sb.note("created", seconds=timings["total"])
        sb.save()
        write_portal_env(sb)
    except BaseException:
        # Leave nothing half made, but only what this create made: a database or buckets of the
        # same name that were there before belong to someone else. The first error is the one to report.
        for backend in made:
            try:
                backend.drop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return sb, sheet


def _portal_sessions(database, put_back: list[dict] | None = None) -> list[dict]:
    """The portal's open sessions (services.models.PortalSession), read, or put back after a restore:
    a reset brings back the seeded data, and whoever is signed in stays signed in."""
    from sqlalchemy import inspect, insert, select

    from services.models import PortalSession

    table = PortalSession.__table__
    engine = database.engine()
    try:
        if not inspect(engine).has_table(table.name):   # a sandbox seeded before sessions lived there
            return []
        if put_back is None:
            with engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(select(table))]
        if put_back:
            with engine.begin() as conn:
                conn.execute(insert(table), put_back)
        return put_back
    finally:
        engine.dispose()


def reset(name: str) -> float:
    """Restore the seeded state (database and objects); returns the seconds it took."""
    ensure_allowed()
    sb = load(name)
    if sb.target == "lab":
        from services.sandbox import onlab

        return onlab.reset(sb)
    started = time.perf_counter()
    database = database_of(sb)
    signed_in = _portal_sessions(database)
    database.restore()
    _portal_sessions(database, signed_in)
    objects_of(sb).publish()
    seconds = round(time.perf_counter() - started, 3)
    sb.timings["last_reset"] = seconds
    sb.note("reset", seconds=seconds)
    sb.save()
    return seconds


def leftovers(sb: Sandbox) -> list[str]:
    """What of `sb` still exists: files, databases, buckets. Empty after `destroy`."""
    if sb.target == "lab":
        from services.sandbox import onlab

        return onlab.leftovers(sb)
    found = database_of(sb).leftovers() + objects_of(sb).leftovers()
    if sb.folder.exists():
        found.append(str(sb.folder))
    return found


def _remove(sb: Sandbox) -> list[str]:
    removed = []
    for backend in (database_of(sb), objects_of(sb)):
        backend.drop()
        removed.append(backend.describe())
    shutil.rmtree(sb.folder, ignore_errors=True)
    removed.append(str(sb.folder))
    return removed


def destroy(name: str) -> list[str]:
    """Remove everything of sandbox `name` (its accounts live in its database); returns what was removed.

    Raises SandboxError naming anything still there afterwards.
    """
    ensure_allowed()
    sb = load(name)
    if sb.target == "lab":
        from services.sandbox import onlab

        return onlab.destroy(sb)
    removed = _remove(sb)
    left = leftovers(sb)
    if left:
        raise SandboxError(f"sandbox {name}: still there after destroy: {', '.join(left)}")
    return removed


def progress_table(sb: Sandbox):
    """(exercises, {trainee: {exercise code: Outcome}}) read from the sandbox's database."""
    from services import db
    from services.policy import serving_sandbox
    from services.sandbox.training import Outcome, load_exercises, progress

    exercises = load_exercises()
    if sb.target == "lab":
        from services.sandbox import onlab

        table = onlab.progress(sb)
        return exercises, {user: {code: Outcome(**o) for code, o in row.items()} for user, row in table.items()}
    engine = database_of(sb).engine()
    try:
        with serving_sandbox(sb.name), db.session(engine) as s:
            return exercises, progress(s, [a.username for a in sb.trainee_accounts()], exercises)
    finally:
        engine.dispose()


def port_open(sb: Sandbox, timeout: float = 0.2) -> bool:
    """Whether the sandbox's portal answers (on a lab: its address through the server's nginx)."""
    if sb.target == "lab":
        from services.sandbox import onlab

        return onlab.serving(sb)
    host = "127.0.0.1" if sb.host in ("", "0.0.0.0") else sb.host
    try:
        with socket.create_connection((host, sb.port), timeout=timeout):
            return True
    except OSError:
        return False
