"""The system's own tables: submissions and their workflow, row errors, the audit trail, local accounts,
portal sessions.

Tables holding the submitted rows themselves are compiled from the dataset catalog
(see services/datasets_db.py), so they are not declared here.
"""
from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import JSON, Column, Index, String, Text
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Status(str, Enum):
    """A submission's place in the workflow (DESIGN.md: the flow of data)."""

    submitted = "submitted"
    validated = "validated"
    rejected = "rejected"
    approved = "approved"
    accepted = "accepted"


class Submission(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(index=True, max_length=64)
    institution: str = Field(index=True, max_length=32)
    status: str = Field(default=Status.submitted.value, index=True, sa_type=String(16))
    filename: str = Field(max_length=255)
    file_sha256: str = Field(index=True, max_length=64)
    file_key: str = Field(max_length=255)
    file_size: int = 0
    file_format: str = Field(default="csv", max_length=8)
    encoding: str | None = Field(default=None, max_length=16)
    rows_total: int = 0
    rows_loaded: int = 0
    errors_count: int = 0
    submitted_by: str = Field(max_length=128)
    submitted_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    # Set when this submission replaces a rejected one (the partner fixed the rows).
    replaces_id: int | None = Field(default=None, foreign_key="submission.id")


class SubmissionEvent(SQLModel, table=True):
    """One workflow transition: who moved a submission from which status to which, when, why."""

    __tablename__ = "submission_event"
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    from_status: str | None = Field(default=None, sa_type=String(16))
    to_status: str = Field(sa_type=String(16))
    actor: str = Field(max_length=128)
    at: dt.datetime = Field(default_factory=utcnow)
    reason: str | None = Field(default=None, sa_column=Column(Text))


class RowError(SQLModel, table=True):
    """A rejected value. The message is rendered from `code` and `params` in the reader's language."""

    __tablename__ = "row_error"
    __table_args__ = (Index("ix_row_error_submission_row", "submission_id", "row_number"),)
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id")
    row_number: int | None = None  # spreadsheet row number, header = 1; None for file-level errors
    field: str | None = Field(default=None, max_length=64)
    value: str | None = Field(default=None, sa_column=Column(Text))
    code: str = Field(max_length=48)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON))


class AuditEntry(SQLModel, table=True):
    """An append-only, hash-chained record; see services/audit.py."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)
    institution: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=255)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class Account(SQLModel, table=True):
    """A local account: only for the demo and sandboxes; production logs in through Keycloak."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=128)
    password_hash: str = Field(max_length=255)
    institution: str = Field(max_length=32)
    roles: str = Field(max_length=255)  # space-separated role codes
    display_name: str = Field(default="", max_length=255)
    language: str = Field(default="ar", max_length=2)
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())


class PortalSession(SQLModel, table=True):
    """A portal session, kept on the server so that it can be ended (portal/sessions.py).

    The browser's cookie holds only a random id; this row holds its SHA-256, so a copy of the
    database opens no session.
    """

    __tablename__ = "portal_session"
    id: str = Field(primary_key=True, max_length=64)
    username: str | None = Field(default=None, index=True, max_length=128)  # None until someone signs in
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen: dt.datetime = Field(default_factory=utcnow, index=True)
    data: str = Field(sa_column=Column(Text, nullable=False))
