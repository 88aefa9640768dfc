"""A training sandbox on a PostgreSQL server and an S3 server set apart for sandboxes: its own
database (`marsad_sbx_<name>`, with a `_seed` template for reset) and its own buckets
(`sbx-<name>-*`); after destroy, the servers are asked and hold nothing of it."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import func, select

from services import db, sandbox
from services.models import Submission
from services.sandbox.backends import database_of, objects_of
from tests.portal_fixtures import login, logout, post
from tests.test_sandbox import isolate, sheet_passwords

NAME = "pg-class"


def databases(postgres) -> list[str]:
    engine = create_engine(postgres.url_for("postgres"))
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'marsad_sbx_%'"))]
    finally:
        engine.dispose()


def buckets(s3) -> list[str]:
    return sorted(b.name for b in s3.client().list_buckets() if b.name.startswith(f"sbx-{NAME}-"))


def objects_in(s3) -> set[tuple[str, str]]:
    client = s3.client()
    return {(b, o.object_name) for b in buckets(s3) for o in client.list_objects(b, recursive=True)}


def submissions(sb) -> int:
    engine = database_of(sb).engine()
    try:
        with db.session(engine) as s:
            return s.exec(select(func.count()).select_from(Submission)).one()
    finally:
        engine.dispose()


def test_sandbox_on_postgresql_and_s3(postgres, s3, tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("MARSAD_SANDBOX_DATABASE_URL", postgres.url_for("postgres"))
    monkeypatch.setenv("MARSAD_SANDBOX_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("MARSAD_SANDBOX_S3_ACCESS_KEY", s3.access_key)
    monkeypatch.setenv("MARSAD_SANDBOX_S3_SECRET_KEY", s3.secret_key)
    monkeypatch.setenv("MARSAD_SANDBOX_S3_SECURE", "false")

    sb, _sheet = sandbox.create(NAME, trainees=2, pdf=False, say=lambda _m: None)
    try:
        assert sb.database == {"kind": "postgresql"} and sb.storage["kind"] == "s3"
        assert sorted(databases(postgres)) == ["marsad_sbx_pg_class", "marsad_sbx_pg_class_seed"]
        assert not sb.sqlite_path.exists() and not sb.objects_dir.exists()
        seeded_objects, seeded_submissions = objects_in(s3), submissions(sb)
        assert f"sbx-{NAME}-mi-paf" in buckets(s3) and seeded_objects
        env = sandbox.environ(sb)
        assert env["MARSAD_DATABASE_URL"].endswith("/marsad_sbx_pg_class")
        assert env["MARSAD_S3_BUCKET_PREFIX"] == f"sbx-{NAME}"

        # Another host (another folder) asking for the same name is refused, and takes nothing away.
        monkeypatch.setenv("MARSAD_VAR_DIR", str(tmp_path / "other-host"))
        with pytest.raises(sandbox.SandboxError, match="exist already"):
            sandbox.create(NAME, trainees=1, pdf=False, say=lambda _m: None)
        monkeypatch.setenv("MARSAD_VAR_DIR", str(tmp_path / "var"))
        assert len(databases(postgres)) == 2 and objects_in(s3) == seeded_objects
        assert not (tmp_path / "other-host" / "sandboxes" / NAME).exists()

        # A trainee submits through the sandbox portal: rows in its database, the file in its bucket.
        from portal.progress import create_sandbox_app

        engine = database_of(sb).engine()
        app = create_sandbox_app(sb, engine=engine, store=objects_of(sb).store(), TESTING=True)
        client = app.test_client()
        logout(client)
        assert login(client, "trainee-01", sheet_passwords(sb)["trainee-01"]).status_code == 302
        practice = sb.content["practice"]["file"]
        data = (sb.files_dir / "trainee-01" / practice).read_bytes()
        sent = post(client, "/submissions/new", {"dataset": "border_crossings", "file": (io.BytesIO(data), practice)},
                    content_type="multipart/form-data")
        assert sent.status_code == 303
        assert submissions(sb) == seeded_submissions + 1
        assert len(objects_in(s3)) == len(seeded_objects) + 1
        assert sandbox.progress_table(sb)[1]["trainee-01"]["fix-rejected-file"].state == "started"

        # Reset: the database is recreated from its template, the buckets hold the seeded objects again.
        seconds = sandbox.reset(NAME)
        print(f"\nreset on PostgreSQL + S3: {seconds:.2f} s")
        assert submissions(sb) == seeded_submissions
        assert objects_in(s3) == seeded_objects
        # The portal's pool reconnects to the recreated database.
        assert client.get("/exercises").status_code == 200
        engine.dispose()
    finally:
        sandbox.destroy(NAME)

    # Nothing left: ask the servers, and walk the folder.
    assert databases(postgres) == []
    assert buckets(s3) == []
    assert not sb.folder.exists()
    assert sandbox.leftovers(sb) == []
