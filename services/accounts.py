"""Local accounts: for the demo and training sandboxes only; production logs in through Keycloak.

Passwords are hashed with Argon2id. Demo accounts are seeded from policies/: one per role
each institution's agreement allows, named `<institution>.<role>` in lower case.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from services.config import settings
from services.models import Account
from services.policy import Principal

_hasher = PasswordHasher()
DEMO_PASSWORD = "marsad-demo"  # printed by `make demo`; refused in production (Settings.problems)


class LocalAccountsDisabled(RuntimeError):
    """Production runs without local accounts."""


def _require_enabled() -> None:
    cfg = settings()
    if cfg.production and cfg.problems():
        raise LocalAccountsDisabled("local accounts are refused in production: " + "; ".join(cfg.problems()))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create(session: Session, username: str, password: str, institution: str, roles, *,
           display_name: str = "", language: str = "ar") -> Account:
    _require_enabled()
    account = Account(username=username, password_hash=hash_password(password), institution=institution,
                      roles=" ".join(sorted(roles)), display_name=display_name or username, language=language)
    session.add(account)
    session.commit()
    return account


def authenticate(session: Session, username: str, password: str) -> Principal | None:
    _require_enabled()
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None or not account.active:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return principal_of(account)


def principal_of(account: Account) -> Principal:
    return Principal(username=account.username, institution=account.institution, roles=account.role_set)


def find(session: Session, username: str) -> Account | None:
    return session.exec(select(Account).where(Account.username == username)).first()


def demo_roles(policies, institution: str) -> list[str]:
    """The roles a demo account is made for: those the agreement allows, but not sandbox-only ones."""
    return sorted(r for r in policies.roles_allowed(institution) if not policies.roles[r].sandbox_only)


def seed_demo(session: Session, policies, password: str = DEMO_PASSWORD) -> list[Account]:
    """One account per (institution, allowed role), skipping those that exist; returns the new ones."""
    _require_enabled()
    existing = {a.username for a in session.exec(select(Account))}
    created = []
    hashed = hash_password(password)  # one hash for all demo accounts: seeding stays fast
    for code in policies.institutions:
        for role in sorted(demo_roles(policies, code)):
            username = f"{code.lower()}.{role}"
            if username in existing:
                continue
            account = Account(username=username, password_hash=hashed, institution=code, roles=role,
                              display_name=f"{code} {role}")
            session.add(account)
            created.append(account)
    session.commit()
    return created
