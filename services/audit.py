"""The audit trail: an append-only, hash-chained record of logins, submissions, decisions,
exports and reads of microdata.

Each entry's hash covers its own content and the previous entry's hash, so altering,
reordering or deleting an entry breaks the chain at that point. Removing entries from the
end leaves a valid shorter chain: `verify` prints the head hash and count so an operator
can keep them outside the database (they also travel with every backup).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, select

from services.models import AuditEntry, utcnow

GENESIS = "0" * 64
CHAIN_LOCK = 7452301  # PostgreSQL advisory lock key of the chain's head


def _canonical_time(at: dt.datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return at.replace(microsecond=0).isoformat()


def entry_hash(prev_hash: str, entry_id: int, at: dt.datetime, actor: str, institution: str | None,
               action: str, target: str | None, details: dict) -> str:
    body = json.dumps([entry_id, _canonical_time(at), actor, institution, action, target, details],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(session: Session, *, actor: str, action: str, institution: str | None = None,
           target: str | None = None, details: dict | None = None) -> AuditEntry:
    """Append an entry and commit it with whatever the session holds."""
    details = json.loads(json.dumps(details or {}, default=str))  # what the database will give back
    _lock_head(session)
    last = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).first()
    prev_hash = last.hash if last else GENESIS
    entry_id = (last.id if last else 0) + 1
    at = utcnow()
    entry = AuditEntry(id=entry_id, at=at, actor=actor, institution=institution, action=action,
                       target=target, details=details, prev_hash=prev_hash,
                       hash=entry_hash(prev_hash, entry_id, at, actor, institution, action, target, details))
    session.add(entry)
    session.commit()
    return entry


def _lock_head(session: Session) -> None:
    """Make this session's transaction the only appender until it commits, across processes (CLI
    runs, gunicorn workers): the head is read and the next entry inserted under one database lock."""
    session.flush()  # the session's pending writes go first, in the same transaction
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        # pysqlite (in the legacy mode db.make_engine keeps) opens a transaction only before a
        # write, so a plain read of the head ran outside any transaction and two processes could
        # both take the same next id. Either this session has written already, and its open
        # transaction holds SQLite's one write lock, or nothing is open: take that lock now,
        # waiting for other writers as long as the engine's busy timeout allows.
        if not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        # Held until this transaction ends, i.e. over the read of the head and the insert.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


@dataclass
class ChainReport:
    count: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, batch: int = 10_000) -> ChainReport:
    problems: list[str] = []
    prev_hash, expected_id, count = GENESIS, 1, 0
    last_id = 0
    while True:
        entries = session.exec(select(AuditEntry).where(AuditEntry.id > last_id)
                               .order_by(AuditEntry.id).limit(batch)).all()
        if not entries:
            break
        for e in entries:
            count += 1
            if e.id != expected_id:
                problems.append(f"entry {expected_id}" + (f"..{e.id - 1}" if e.id - 1 > expected_id else "")
                                + " deleted (ids jump to {})".format(e.id))
            if e.prev_hash != prev_hash:
                problems.append(f"entry {e.id}: does not follow the entry before it (reordered or removed)")
            recomputed = entry_hash(e.prev_hash, e.id, e.at, e.actor, e.institution, e.action, e.target,
                                    e.details or {})
            if recomputed != e.hash:
                problems.append(f"entry {e.id}: content altered ({e.action} by {e.actor})")
            prev_hash, expected_id, last_id = e.hash, e.id + 1, e.id
    return ChainReport(count=count, head=prev_hash, problems=problems)
