"""Training sandboxes (services/sandbox, `marsad sandbox`, the sandbox portal's pages).

One 3-trainee sandbox is created for the module; a trainee signs in through the sandbox's
portal (Flask test client on the sandbox's own database and store) and does the exercises, the
trainer watches progress, the sandbox is reset and then destroyed, and nothing of it is left.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from services import db, sandbox
from services.cli import main
from services.models import Account, AuditEntry, Submission
from services.policy import Principal, Resource, decide, default_policies, served_sandbox, serving_sandbox
from services.sandbox.backends import database_of, objects_of
from services.sandbox.training import load_exercises
from tests.portal_fixtures import login, logout, post

REPO = Path(__file__).resolve().parents[1]
NAME = "class-a"


def isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    """A throwaway host: its own var dir, no PostgreSQL or S3 for sandboxes, not production."""
    for key in [k for k in os.environ if k.startswith("MARSAD_")]:
        mp.delenv(key)
    mp.setenv("MARSAD_ENV", "test")
    mp.setenv("MARSAD_VAR_DIR", str(root / "var"))


def sheet_passwords(sb) -> dict[str, str]:
    text = (sb.folder / "credentials.csv").read_text(encoding="utf-8-sig")
    return {r["username"]: r["password"] for r in csv.DictReader(io.StringIO(text))}


def counts(sb) -> dict:
    engine = database_of(sb).engine()
    try:
        with db.session(engine) as s:
            return {"submissions": s.exec(select(func.count()).select_from(Submission)).one(),
                    "audit": s.exec(select(func.count()).select_from(AuditEntry)).one(),
                    "accounts": s.exec(select(func.count()).select_from(Account)).one()}
    finally:
        engine.dispose()


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandboxes")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        started = time.perf_counter()
        sb, sheet = sandbox.create(NAME, trainees=3, say=lambda _m: None)
        seconds = time.perf_counter() - started
        yield {"sb": sb, "sheet": sheet, "passwords": sheet_passwords(sb), "seconds": seconds, "root": root,
               "seeded": counts(sb)}
        if sb.folder.exists():
            sandbox.destroy(NAME)


@pytest.fixture
def portal(made):
    """A client of the sandbox's portal, and the app (its own database and object store)."""
    sb = made["sb"]
    engine = database_of(sb).engine()
    from portal.progress import create_sandbox_app

    app = create_sandbox_app(sb, engine=engine, store=objects_of(sb).store(), TESTING=True)
    yield app.test_client(), app
    engine.dispose()


def sign_in(client, made, username):
    logout(client)
    response = login(client, username, made["passwords"][username])
    assert response.status_code == 302, (username, response.status_code)


def progress_states(sb) -> dict[str, dict[str, str]]:
    _exercises, table = sandbox.progress_table(sandbox.load(sb.name))
    return {user: {code: o.state for code, o in row.items()} for user, row in table.items()}


# --- create ------------------------------------------------------------------------------------

def test_create_gives_the_sandbox_everything_of_its_own(made):
    sb = made["sb"]
    assert sb.folder == Path(made["root"]) / "var" / "sandboxes" / NAME
    assert sb.sqlite_path.is_file() and (sb.seed_dir / "marsad.db").is_file()
    assert sb.objects_dir.is_dir() and tree(sb.objects_dir) == tree(sb.seed_dir / "objects")
    assert 5101 <= sb.port < 6000 and sb.url == f"http://127.0.0.1:{sb.port}/"
    assert sb.expires == (dt.date.fromisoformat(sb.created[:10]) + dt.timedelta(days=14)).isoformat()
    assert not sb.expired()
    kinds = [a.kind for a in sb.accounts]
    assert kinds.count("trainee") == 3 and kinds.count("trainer") == 1 and kinds.count("roleplay") == 2
    assert {(a.role, a.institution) for a in sb.trainee_accounts()} == {("trainee", "MI-PAF")}
    assert made["seeded"]["accounts"] == 6
    # Seeded with accepted synthetic data, and the indicators the exercises read.
    assert sb.content["datasets"]["border_crossings"]["institution"] == "MI-PAF"
    assert sb.content["indicators"]["computed"] and "border_movements" in sb.content["indicators"]["released"]
    print(f"\ncreate (3 trainees): {made['seconds']:.1f} s {sb.timings['create']}")


def test_credentials_sheet_has_strong_passwords_and_is_private(made):
    sb, passwords = made["sb"], made["passwords"]
    assert set(passwords) == {a.username for a in sb.accounts}
    assert len(set(passwords.values())) == len(passwords)
    for secret in passwords.values():
        assert re.fullmatch(r"([a-km-zA-HJ-NP-Z2-9]{4}-){3}[a-km-zA-HJ-NP-Z2-9]{4}", secret)
    page = (sb.folder / "credentials.html").read_text(encoding="utf-8")
    assert all(u in page and p in page for u, p in passwords.items())
    names = [p.name for p in made["sheet"]]
    assert names[:2] == ["credentials.csv", "credentials.html"]
    from services.sandbox.credentials import pdf_available

    if pdf_available():
        assert (sb.folder / "credentials.pdf").read_bytes().startswith(b"%PDF")
    for path in made["sheet"] + [sb.manifest_path]:
        assert path.stat().st_mode & 0o077 == 0, path
    # The manifest names the accounts but never their passwords.
    manifest = sb.manifest_path.read_text()
    assert not any(p in manifest for p in passwords.values())


def test_practice_files_are_monthly_with_errors_and_differ_per_trainee(made):
    sb = made["sb"]
    practice = sb.content["practice"]
    assert practice["dataset"] == "border_crossings" and practice["month"] == 1
    bodies = set()
    for account in sb.trainee_accounts():
        path = sb.files_dir / account.username / practice["file"]
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        corrected = sb.files_dir / account.username / "answer-key" / practice["file"].replace(".csv", "-corrected.csv")
        clean = list(csv.DictReader(io.StringIO(corrected.read_text(encoding="utf-8-sig"))))
        assert len(rows) == len(clean) > 50
        assert all(r["event_date"].startswith(f"{practice['year']}-01") for r in clean)
        assert practice["per_trainee"][account.username]["errors"] > 0
        assert sum(a != b for a, b in zip(rows, clean)) == practice["per_trainee"][account.username]["errors"]
        bodies.add(path.read_bytes())
    assert len(bodies) == 3


def test_exercises_are_data_with_a_known_check_each():
    exercises = load_exercises()
    assert [e.code for e in exercises] == ["fix-rejected-file", "approve-and-accept", "read-indicator",
                                           "export-indicator"]
    for e in exercises:
        assert {"ar", "fr", "en"} <= set(e.title) and {"ar", "fr", "en"} <= set(e.instructions)


# --- the training journey ------------------------------------------------------------------------

def test_trainee_does_the_exercises_and_the_trainer_sees_progress_then_reset(made, portal):
    client, app = portal
    sb = made["sb"]
    assert all(state == "todo" for row in progress_states(sb).values() for state in row.values())

    # A trainee signs in through the sandbox's portal: sealed into the sandbox.
    sign_in(client, made, "trainee-01")
    with client.session_transaction() as session:
        assert session["principal"]["sandbox"] == NAME and session["principal"]["roles"] == ["trainee"]
    page = client.get("/exercises?lang=en")
    assert page.status_code == 200 and b"Submit a monthly file with errors" in page.data

    # (a) The practice file is rejected with a report, then the corrected file replaces it.
    practice = sb.content["practice"]["file"]
    download = client.get(f"/exercises/files/trainee-01/{practice}")
    assert download.status_code == 200
    assert client.get(f"/exercises/files/trainee-02/{practice}").status_code == 404   # not someone else's
    assert client.get(f"/exercises/files/trainee-01/answer-key/{practice}").status_code == 404
    sent = post(client, "/submissions/new", {"dataset": "border_crossings",
                                             "file": (io.BytesIO(download.data), practice)},
                content_type="multipart/form-data")
    assert sent.status_code == 303
    rejected_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    detail = client.get(f"/submissions/{rejected_id}?lang=en")
    assert b"Submit a corrected file" in detail.data
    assert progress_states(sb)["trainee-01"]["fix-rejected-file"] == "started"

    corrected = (sb.files_dir / "trainee-01" / "answer-key" / practice.replace(".csv", "-corrected.csv")).read_bytes()
    sent = post(client, "/submissions/new", {"dataset": "border_crossings", "replaces": str(rejected_id),
                                             "file": (io.BytesIO(corrected), "corrected.csv")},
                content_type="multipart/form-data")
    assert sent.status_code == 303
    fixed_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    states = progress_states(sb)
    assert states["trainee-01"]["fix-rejected-file"] == "done"
    assert states["trainee-01"]["approve-and-accept"] == "started"
    assert states["trainee-02"]["fix-rejected-file"] == "todo"

    # (b) The institution's focal point approves, the ONM analyst accepts (role-play accounts).
    sign_in(client, made, "focal-mi-paf")
    assert post(client, f"/submissions/{fixed_id}/approve").status_code == 303
    sign_in(client, made, "onm-analyst")
    assert post(client, f"/submissions/{fixed_id}/accept").status_code == 303
    assert progress_states(sb)["trainee-01"]["approve-and-accept"] == "done"

    # (c) and (d): the indicator table under disclosure control, then its export.
    sign_in(client, made, "trainee-01")
    table = client.get("/exercises/indicators/border_movements?lang=en")
    assert table.status_code == 200 and b"suppressed" in table.data
    exported = client.get("/exercises/indicators/border_movements/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "confidential" in exported.data.decode("utf-8-sig")
    assert progress_states(sb)["trainee-01"] == {"fix-rejected-file": "done", "approve-and-accept": "done",
                                                 "read-indicator": "done", "export-indicator": "done"}

    # The progress page is the trainer's only.
    assert client.get("/progress").status_code == 403
    sign_in(client, made, "trainer-1")
    board = client.get("/progress?lang=en")
    assert board.status_code == 200
    assert board.data.count(b"status-done") == 4 and b"trainee-03" in board.data
    assert client.get(f"/exercises/files/trainee-01/answer-key/{practice.replace('.csv', '-corrected.csv')}"
                      ).status_code == 200
    cli = CliRunner().invoke(main, ["sandbox", "progress", NAME])
    assert cli.exit_code == 0, cli.output
    assert re.search(r"trainee-01\s+✓\s+✓\s+✓\s+✓\s+4/4", cli.output)
    assert re.search(r"trainee-02\s+·\s+·\s+·\s+·\s+0/4", cli.output)

    # Reset: the seeded state is back, progress is zero, the same credentials still work.
    assert counts(sb) != made["seeded"]
    live_objects = tree(sb.objects_dir)
    assert live_objects != tree(sb.seed_dir / "objects")
    result = CliRunner().invoke(main, ["sandbox", "reset", NAME])
    assert result.exit_code == 0, result.output
    seconds = float(re.search(r"in ([\d.]+) s", result.output).group(1))
    assert seconds < 5
    print(f"\nreset: {seconds:.2f} s")
    assert counts(sb) == made["seeded"]
    assert tree(sb.objects_dir) == tree(sb.seed_dir / "objects")
    assert all(state == "todo" for row in progress_states(sb).values() for state in row.values())
    assert client.get(f"/submissions/{fixed_id}").status_code == 404
    sign_in(client, made, "trainee-01")
    assert client.get("/exercises").status_code == 200


def test_sandbox_principals_are_sealed(made, portal):
    client, app = portal
    policies = default_policies()
    trainee = Principal("trainee-01", "MI-PAF", frozenset({"trainee"}), sandbox=NAME)
    # Resources built while serving the sandbox live in it; outside, in the real system.
    with serving_sandbox(NAME):
        inside = Resource("dataset", institution="MI-PAF", dataset="border_crossings")
    outside = Resource("dataset", institution="MI-PAF", dataset="border_crossings")
    assert inside.sandbox == NAME and outside.sandbox is None and served_sandbox() is None
    assert decide(policies, trainee, "submission.create", inside)
    assert not decide(policies, trainee, "submission.create", outside)
    with serving_sandbox("another"):
        assert not decide(policies, trainee, "submission.create", Resource("dataset", institution="MI-PAF",
                                                                            dataset="border_crossings"))
    # A session of the real system (same key, even) is not signed in to the sandbox's portal.
    with client.session_transaction() as session:
        session["principal"] = {"username": "mi-paf.submitter", "institution": "MI-PAF", "roles": ["submitter"],
                                "unit": None, "sandbox": None, "method": "local"}
    assert client.get("/submissions").status_code == 302
    # Each sandbox's portal has its own session cookie: cookies ignore ports.
    assert app.config["SESSION_COOKIE_NAME"] == f"marsad_sbx_{NAME}"


def test_sandbox_portal_takes_no_database_from_a_foreign_environment(made, monkeypatch):
    from portal.progress import create_sandbox_app

    monkeypatch.setenv("MARSAD_DATABASE_URL", "sqlite:////nonexistent/production.db")
    with pytest.raises(RuntimeError, match="not sandbox"):
        create_sandbox_app(made["sb"])


def test_environment_of_a_sandbox_keeps_none_of_the_hosts_settings(made):
    sb = made["sb"]
    host = {"MARSAD_ENV": "production", "MARSAD_DATABASE_URL": "postgresql+psycopg://marsad:pw@db.onm:5432/marsad",
            "MARSAD_STORAGE": "s3", "MARSAD_S3_ENDPOINT": "https://s3.onm", "MARSAD_S3_SECRET_KEY": "prod-secret",
            "MARSAD_SECRET_KEY": "production-key-production-key-xxxx", "MARSAD_OIDC_CLIENT_SECRET": "kc",
            "MARSAD_POLICIES_DIR": "/etc/marsad/policies", "PATH": "/usr/bin"}
    env = sandbox.environ(sb, base=host)
    assert env["MARSAD_ENV"] == "sandbox" and env["MARSAD_SANDBOX"] == NAME
    assert env["MARSAD_DATABASE_URL"] == f"sqlite:///{sb.sqlite_path}"
    assert env["MARSAD_STORAGE"] == "local" and env["MARSAD_STORAGE_DIR"] == str(sb.objects_dir)
    assert env["MARSAD_SECRET_KEY"] == sb.secret_key
    assert "MARSAD_OIDC_CLIENT_SECRET" not in env and "MARSAD_S3_SECRET_KEY" not in env
    assert "prod" not in json.dumps({k: v for k, v in env.items() if k.startswith("MARSAD_")})
    assert env["MARSAD_POLICIES_DIR"] == "/etc/marsad/policies" and env["PATH"] == "/usr/bin"


def test_list_shows_expired_sandboxes(made):
    sb = sandbox.load(NAME)
    kept = sb.expires
    sb.expires = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    sb.save()
    try:
        result = CliRunner().invoke(main, ["sandbox", "list", "--json"])
        assert result.exit_code == 0, result.output
        [row] = [r for r in json.loads(result.output) if r["name"] == NAME]
        assert row["state"] == "expired" and row["trainees"] == 3
        assert re.search(rf"{NAME}\s+expired", CliRunner().invoke(main, ["sandbox", "list"]).output)
    finally:
        sb.expires = kept
        sb.save()


# --- target lab: the pure parts (the lab test, tests/test_lab.py, runs it on the lab's servers) ---

def test_portal_env_is_the_sandboxs_only_and_private(made):
    sb = made["sb"]
    path = sb.folder / "portal.env"
    assert path.stat().st_mode & 0o777 == 0o600
    written = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert written["MARSAD_SANDBOX"] == NAME and written["MARSAD_ENV"] == "sandbox"
    assert written["MARSAD_SANDBOX_PORT"] == str(sb.port)
    assert written["MARSAD_DATABASE_URL"] == f"sqlite:///{sb.sqlite_path}"
    assert written["MARSAD_COOKIE_SECURE"] == "0"          # its own port, plain HTTP
    assert all(k.startswith("MARSAD_") for k in written)


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_portal_behind_a_tls_front_lives_under_its_prefix(made):
    import dataclasses

    from portal.progress import create_sandbox_app
    from services.sandbox import hosting

    prefix = hosting.url_prefix(NAME)
    sb = dataclasses.replace(made["sb"], url_prefix=prefix, public_url=f"https://10.0.0.5{prefix}")
    engine = database_of(sb).engine()
    try:
        app = create_sandbox_app(sb, engine=engine, store=objects_of(sb).store(), TESTING=True)
        client = app.test_client()
        front = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.9", "X-Forwarded-Host": "10.0.0.5"}
        assert client.get("/login", headers=front).status_code == 404      # not this sandbox's address
        away = client.get(f"{prefix}exercises", headers=front, base_url="https://10.0.0.5")
        assert away.status_code == 302 and away.location == f"{prefix}login?next={prefix}exercises", away.location
        page = client.get(away.location, headers=front, base_url="https://10.0.0.5")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert f'action="{prefix}login"' in html and 'href="/static' not in html
        assert f'href="{prefix}login?next=' in html      # the language links stay in the sandbox
        answer = client.post(away.location, headers=front, base_url="https://10.0.0.5",
                             data={"username": "trainee-01", "password": made["passwords"]["trainee-01"],
                                   "csrf_token": _form_token(html)})
        assert answer.status_code == 302 and answer.location == f"{prefix}exercises", answer.location
        cookie = answer.headers["Set-Cookie"]
        assert f"marsad_sbx_{NAME}=" in cookie and f"Path={prefix.rstrip('/')}" in cookie
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert client.get(f"{prefix}exercises", headers=front, base_url="https://10.0.0.5").status_code == 200
    finally:
        engine.dispose()


def test_nginx_location_forwards_the_prefix_to_the_sandbox_port(made):
    import dataclasses

    from services.sandbox import hosting

    sb = dataclasses.replace(made["sb"], url_prefix=hosting.url_prefix(NAME), port=5123)
    text = hosting.nginx_location(sb)
    assert f"location /sandbox/{NAME}/ {{" in text and "proxy_pass http://127.0.0.1:5123;" in text
    assert f"location = /sandbox/{NAME} {{ return 301 /sandbox/{NAME}/; }}" in text
    assert "X-Forwarded-Proto $scheme" in text
    with pytest.raises(sandbox.SandboxError, match="not made to be served"):
        hosting.nginx_location(dataclasses.replace(sb, url_prefix="/elsewhere/"))
    with pytest.raises(sandbox.SandboxError, match="sandbox name"):
        hosting.unit("x;rm -rf")


def test_lab_create_runs_the_servers_own_create_command():
    from services.cli.sandbox import create as create_command
    from services.sandbox import onlab

    args = onlab.create_arguments("tunis-0325", trainees=20, trainers=2, institution="OTE", days=5, language="fr",
                                  pdf=False, public_url="https://10.213.13.13/sandbox/tunis-0325/")
    assert args[0] == "create"
    # The arguments are the server's `marsad sandbox create`'s own: its parser takes them as they are.
    params = create_command.make_context("create", args[1:]).params
    assert params["name"] == "tunis-0325" and params["trainees"] == 20 and params["trainers"] == 2
    assert params["institution"] == "OTE" and params["days"] == 5 and params["language"] == "fr"
    assert params["pdf"] is False and params["target"] == "local" and params["host"] == "127.0.0.1"
    assert params["url_prefix"] == "/sandbox/tunis-0325/"
    assert params["public_url"] == "https://10.213.13.13/sandbox/tunis-0325/"


def test_lab_target_refuses_production_and_labs_without_a_sandbox_server(made, tmp_path):
    import yaml

    result = CliRunner().invoke(main, ["sandbox", "create", "lab-one", "--target", "lab", "--env", "onm-production"])
    assert result.exit_code == 1 and "never on a production deployment" in result.output
    data = yaml.safe_load((REPO / "hardware/environments/lab.yaml").read_text())
    for server in data["servers"]:
        server["roles"] = [r for r in server["roles"] if r != "sandbox"]
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["sandbox", "create", "lab-one", "--target", "lab",
                                       "--env", str(tmp_path / "lab.yaml")])
    assert result.exit_code == 1 and "no server with the sandbox role" in result.output
    assert not (made["sb"].folder.parent / "lab-one").exists()


def test_lab_target_says_how_to_bring_the_lab_up(made, monkeypatch, tmp_path):
    from services import lab

    monkeypatch.setattr(lab, "STATE_ROOT", tmp_path / "no-lab-here")
    result = CliRunner().invoke(main, ["sandbox", "create", "lab-one", "--target", "lab"])
    assert result.exit_code == 1 and "make lab" in result.output and "make deploy ENV=lab" in result.output
    assert not (made["sb"].folder.parent / "lab-one").exists()


# --- safety ------------------------------------------------------------------------------------

def test_production_refuses_unless_sandbox_resources_are_set_apart(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    var = tmp_path / "var"
    monkeypatch.setenv("MARSAD_ENV", "production")
    monkeypatch.setenv("MARSAD_DATABASE_URL", "postgresql+psycopg://marsad:pw@10.0.0.5:5432/marsad")
    runner = CliRunner()
    for command in (["create", "x", "--trainees", "1"], ["list"], ["reset", "x"], ["destroy", "x"],
                    ["progress", "x"], ["serve", "x"]):
        result = runner.invoke(main, ["sandbox", *command])
        assert result.exit_code == 3, (command, result.output)
        assert "MARSAD_SANDBOX_ROOT" in result.output
    assert not (var / "sandboxes").exists()

    monkeypatch.setenv("MARSAD_SANDBOX_ROOT", str(var))          # production's own folder
    assert any("contains production's MARSAD_VAR_DIR" in p for p in sandbox.refusals())
    monkeypatch.setenv("MARSAD_SANDBOX_ROOT", str(var / "objects" / "sbx"))   # inside its object store
    assert any("overlaps production data" in p for p in sandbox.refusals())
    monkeypatch.setenv("MARSAD_SANDBOX_ROOT", str(tmp_path / "training"))
    assert sandbox.refusals() == []
    # Production's PostgreSQL server, or its S3 server, may not host sandboxes.
    monkeypatch.setenv("MARSAD_SANDBOX_DATABASE_URL", "postgresql+psycopg://admin:x@10.0.0.5:5432/postgres")
    assert any("production's PostgreSQL server" in p for p in sandbox.refusals())
    result = runner.invoke(main, ["sandbox", "create", "x", "--trainees", "1"])
    assert result.exit_code == 3 and not (tmp_path / "training" / "x").exists()
    monkeypatch.setenv("MARSAD_SANDBOX_DATABASE_URL", "postgresql+psycopg://admin:x@10.0.0.9:5432/postgres")
    monkeypatch.setenv("MARSAD_STORAGE", "s3")
    monkeypatch.setenv("MARSAD_S3_ENDPOINT", "https://s3.onm.tn")
    monkeypatch.setenv("MARSAD_SANDBOX_S3_ENDPOINT", "s3.onm.tn")
    assert any("production's S3 server" in p for p in sandbox.refusals())
    monkeypatch.setenv("MARSAD_SANDBOX_S3_ENDPOINT", "https://training-s3.onm.tn")
    assert sandbox.refusals() == []


def test_production_host_with_a_sandbox_root_of_its_own_creates_a_sealed_sandbox(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("MARSAD_ENV", "production")
    monkeypatch.setenv("MARSAD_DATABASE_URL", "postgresql+psycopg://marsad:pw@10.0.0.5:5432/marsad")
    monkeypatch.setenv("MARSAD_LOCAL_ACCOUNTS", "0")
    monkeypatch.setenv("MARSAD_SANDBOX_ROOT", str(tmp_path / "training"))
    sb, _sheet = sandbox.create("prod-side", trainees=1, pdf=False, say=lambda _m: None)
    try:
        # Nothing went to production's places: everything is under the sandbox root.
        assert sb.folder == tmp_path / "training" / "prod-side"
        assert not (tmp_path / "var").exists()
        assert sandbox.environ(sb)["MARSAD_DATABASE_URL"].startswith(f"sqlite:///{sb.folder}")
    finally:
        sandbox.destroy("prod-side")
    assert not (tmp_path / "training" / "prod-side").exists()


# --- serve and destroy ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_the_sandbox_portal_on_its_own_port(made):
    port = _free_port()
    env = {**os.environ}
    process = subprocess.Popen([sys.executable, "-c", "from services.cli import main; main()", "sandbox", "serve", NAME,
                                "--port", str(port)],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as answer:
                    assert answer.status == 200
                    assert f"marsad_sbx_{NAME}=" in answer.headers.get("Set-Cookie", "")
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "the sandbox portal did not answer within 60 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/exercises", timeout=5) as answer:
            assert "/login" in answer.url   # signed-out visitors are sent to sign in
        # A trainee signs in over HTTP; a reset while the portal runs leaves it working.
        from tests.bench.sandbox import request, sign_in

        cookie = sign_in(port, f"marsad_sbx_{NAME}", "trainee-02", made["passwords"]["trainee-02"])
        assert request(port, "GET", "/exercises", cookie=cookie)[0] == 200
        sandbox.reset(NAME)
        assert request(port, "GET", "/exercises", cookie=cookie)[0] == 200
        assert request(port, "GET", "/submissions", cookie=cookie)[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_destroy_leaves_nothing(made):
    sb = made["sb"]
    root = Path(made["root"])
    result = CliRunner().invoke(main, ["sandbox", "destroy", NAME])
    assert result.exit_code == 0, result.output
    assert sandbox.leftovers(sb) == []
    # Walk the whole host folder: no file or folder of the sandbox anywhere.
    remaining = [p for p in root.rglob("*") if NAME in str(p.relative_to(root)) or p.suffix in (".db", ".csv")]
    assert remaining == []
    assert [p.name for p in (root / "var" / "sandboxes").iterdir()] == []
    assert CliRunner().invoke(main, ["sandbox", "progress", NAME]).exit_code == 4
