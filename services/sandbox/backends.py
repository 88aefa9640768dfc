"""A sandbox's database and object store, and how each is seeded, reset and removed.

Database: a SQLite file in the sandbox's folder, or, when MARSAD_SANDBOX_DATABASE_URL names a
PostgreSQL server where sandboxes may create databases, a database of its own on it
(`marsad_sbx_<name>`). Object store: a folder (LocalStore), or, when MARSAD_SANDBOX_S3_ENDPOINT is
set, buckets of its own on that S3 server (prefix `sbx-<name>`).

Reset copies the seeded state back: SQLite through SQLite's backup API (safe while the sandbox's
portal holds the file open, unlike copying the file over it), PostgreSQL by recreating the
database from a template taken at create time, objects by hard-linking the seeded folder again
(objects are written to a temp file and renamed, never rewritten in place, so links are safe),
or re-uploading it to S3.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from services import db
from services.config import SandboxEnv, section
from services.sandbox.layout import Sandbox, SandboxError
from services.storage import LocalStore, S3Store


# --- databases --------------------------------------------------------------------------------

class SqliteDatabase:
    kind = "sqlite"

    def __init__(self, sb: Sandbox):
        self.sb = sb
        self.path = sb.sqlite_path
        self.seed_path = sb.seed_dir / "marsad.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def describe(self) -> str:
        return str(self.path)

    def provision(self) -> None:
        if self.path.exists():
            raise SandboxError(f"{self.path} exists already")

    def engine(self) -> Engine:
        return db.make_engine(self.url)

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        # The backup API takes SQLite's locks: readers of `target` see the old or the new
        # database, never a half-copied file, and its -wal file is handled for us.
        with contextlib.closing(sqlite3.connect(source)) as src, \
                contextlib.closing(sqlite3.connect(target, timeout=30)) as dst:
            src.backup(dst)

    def snapshot(self) -> None:
        self.seed_path.parent.mkdir(parents=True, exist_ok=True)
        self.seed_path.unlink(missing_ok=True)
        self._copy(self.path, self.seed_path)

    def restore(self) -> None:
        if not self.seed_path.is_file():
            raise SandboxError(f"the seeded state {self.seed_path} is missing: destroy and create the sandbox again")
        self._copy(self.seed_path, self.path)

    def drop(self) -> None:
        for path in (self.path, self.seed_path):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def leftovers(self) -> list[str]:
        return [str(p) for p in (self.path, self.seed_path) if p.exists()]


class PostgresDatabase:
    kind = "postgresql"

    def __init__(self, sb: Sandbox, server_url: str | None = None):
        server_url = server_url or section(SandboxEnv).sandbox_database_url
        if not server_url:
            raise SandboxError(f"sandbox {sb.name} lives on PostgreSQL: set MARSAD_SANDBOX_DATABASE_URL to the server "
                               "where sandboxes may create databases")
        self.sb = sb
        self.server = make_url(server_url)
        self.name = f"marsad_sbx_{sb.name.replace('-', '_')}"
        self.seed_name = f"{self.name}_seed"

    @property
    def url(self) -> str:
        return self.server.set(database=self.name).render_as_string(hide_password=False)

    def describe(self) -> str:
        return f"PostgreSQL database {self.name} on {self.server.host}:{self.server.port or 5432}"

    def _admin(self):
        # Database-level statements cannot run in a transaction; no pool keeps a connection open.
        return create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def _execute(self, *statements: str) -> None:
        admin = self._admin()
        try:
            with admin.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            admin.dispose()

    def _existing(self) -> list[str]:
        admin = self._admin()
        try:
            with admin.connect() as conn:
                rows = conn.execute(text("SELECT datname FROM pg_database WHERE datname IN (:a, :b) ORDER BY 1"),
                                    {"a": self.name, "b": self.seed_name})
                return [r[0] for r in rows]
        finally:
            admin.dispose()

    def provision(self) -> None:
        if self._existing():
            raise SandboxError(f"{self.describe()} exists already")
        self._execute(f'CREATE DATABASE "{self.name}"')

    def engine(self) -> Engine:
        return db.make_engine(self.url)

    def snapshot(self) -> None:
        # A template must have no other session: the caller has disposed of its engines.
        self._execute(f'DROP DATABASE IF EXISTS "{self.seed_name}"',
                      f'CREATE DATABASE "{self.seed_name}" TEMPLATE "{self.name}"')

    def restore(self) -> None:
        # FORCE ends the sandbox portal's sessions; its pool reconnects (pre-ping) to the new copy.
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                      f'CREATE DATABASE "{self.name}" TEMPLATE "{self.seed_name}"')

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)',
                      f'DROP DATABASE IF EXISTS "{self.seed_name}" WITH (FORCE)')

    def leftovers(self) -> list[str]:
        return [f"PostgreSQL database {name}" for name in self._existing()]


def database_of(sb: Sandbox):
    kind = sb.database.get("kind")
    if kind == "sqlite":
        return SqliteDatabase(sb)
    if kind == "postgresql":
        return PostgresDatabase(sb)
    raise SandboxError(f"sandbox {sb.name}: unknown database kind {kind!r}")


# --- object stores ----------------------------------------------------------------------------

def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


class LocalObjects:
    kind = "local"

    def __init__(self, sb: Sandbox):
        self.sb = sb
        self.live = sb.objects_dir
        self.seeded = sb.seed_dir / "objects"

    def describe(self) -> str:
        return str(self.live)

    def provision(self) -> None:
        if self.live.exists() or self.seeded.exists():
            raise SandboxError(f"{self.live} exists already")

    def store(self) -> LocalStore:
        return LocalStore(self.live)

    def seed_store(self) -> LocalStore:
        """Where seeding writes; `publish` then makes the live store a copy of it."""
        return LocalStore(self.seeded)

    def publish(self) -> None:
        shutil.rmtree(self.live, ignore_errors=True)
        if self.seeded.is_dir():
            shutil.copytree(self.seeded, self.live, copy_function=_link_or_copy,
                            ignore=shutil.ignore_patterns(".lock", ".tmp-*"))
        else:
            self.live.mkdir(parents=True)

    def drop(self) -> None:
        shutil.rmtree(self.live, ignore_errors=True)
        shutil.rmtree(self.seeded, ignore_errors=True)

    def leftovers(self) -> list[str]:
        return [str(p) for p in (self.live, self.seeded) if p.exists()]


class S3Objects:
    kind = "s3"

    def __init__(self, sb: Sandbox, environ=None):
        env = section(SandboxEnv, environ)
        missing = [f"MARSAD_{n.upper()}" for n in ("sandbox_s3_endpoint", "sandbox_s3_access_key",
                                                   "sandbox_s3_secret_key") if not getattr(env, n)]
        if missing:
            raise SandboxError(f"sandbox {sb.name} keeps its objects on S3: set {', '.join(missing)}")
        self.sb = sb
        self.prefix = sb.storage.get("prefix") or f"sbx-{sb.name}"
        self.endpoint = env.sandbox_s3_endpoint
        self.access_key = env.sandbox_s3_access_key
        self.secret_key = env.sandbox_s3_secret_key
        self.secure = env.sandbox_s3_secure
        self.seeded = sb.seed_dir / "objects"

    def describe(self) -> str:
        return f"S3 buckets {self.prefix}-* on {self.endpoint}"

    def provision(self) -> None:
        existing = self._buckets(self.store().client)
        if existing:
            raise SandboxError(f"S3 buckets {', '.join(existing)} exist already on {self.endpoint}")

    def store(self) -> S3Store:
        return S3Store(self.endpoint, self.access_key, self.secret_key, secure=self.secure, bucket_prefix=self.prefix)

    def seed_store(self) -> LocalStore:
        return LocalStore(self.seeded)

    def environ(self) -> dict[str, str]:
        return {"MARSAD_STORAGE": "s3", "MARSAD_S3_ENDPOINT": self.endpoint, "MARSAD_S3_ACCESS_KEY": self.access_key,
                "MARSAD_S3_SECRET_KEY": self.secret_key, "MARSAD_S3_SECURE": "true" if self.secure else "false",
                "MARSAD_S3_BUCKET_PREFIX": self.prefix}

    def _buckets(self, client) -> list[str]:
        return sorted(b.name for b in client.list_buckets() if b.name.startswith(self.prefix + "-"))

    def _empty(self) -> None:
        from minio.deleteobjects import DeleteObject

        client = self.store().client
        for bucket in self._buckets(client):
            doomed = [DeleteObject(o.object_name, o.version_id)
                      for o in client.list_objects(bucket, recursive=True, include_version=True)]
            errors = list(client.remove_objects(bucket, doomed))
            if errors:
                raise SandboxError(f"could not empty bucket {bucket}: {errors[:3]}")
            client.remove_bucket(bucket)

    def publish(self) -> None:
        from services.policy import load_policies
        from services.storage import RAW_PREFIX

        self._empty()
        store, seeded = self.store(), self.seed_store()
        # Institution folders are named by slug; the codes come from the policies.
        for code in load_policies().institutions:
            for key in seeded.list(code):
                info = seeded.stat(code, key)
                with seeded.open(code, key) as fh:
                    if key.startswith(RAW_PREFIX):
                        store.put_raw(code, fh, filename=info.filename or key, content_type=info.content_type)
                    else:
                        store.put(code, key, fh.read(), content_type=info.content_type)

    def drop(self) -> None:
        self._empty()
        shutil.rmtree(self.seeded, ignore_errors=True)

    def leftovers(self) -> list[str]:
        found = [f"S3 bucket {b}" for b in self._buckets(self.store().client)]
        return found + ([str(self.seeded)] if self.seeded.exists() else [])


def objects_of(sb: Sandbox):
    kind = sb.storage.get("kind")
    if kind == "local":
        return LocalObjects(sb)
    if kind == "s3":
        return S3Objects(sb)
    raise SandboxError(f"sandbox {sb.name}: unknown object store kind {kind!r}")
