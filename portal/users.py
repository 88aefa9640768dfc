"""Delegated user administration: a focal point manages its own institution's accounts, an
administrator every institution's, each granting only the roles the policy lets it grant.

Every offered role and every change is asked of `services.policy.decide` as
users.manage on Resource("users", institution=X, role=R); the agreement of the account's
institution, the manager's scope and the sandbox rules all live there, not here.

Accounts live in a `UserDirectory`: the local account store in the demo, sandboxes and offline
sites, Keycloak in production. The directory classes take no Flask object, so the CLI and the
Provisioning work can use (and move) them as they are.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Iterable, Protocol

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from services import accounts, audit
from services.config import IdentityEnv, section
from services.languages import LANGUAGES
from services.models import Account
from services.policy import Resource, decide, institutions_in_reach

from portal.access import current_principal, login_method, login_url, own, sign_out
from portal.i18n import current_language
from portal.runtime import db_session, runtime
from portal.sessions import revoke_user

# --- the directory of accounts ---------------------------------------------------------------

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
KEYCLOAK_SETTINGS = ("MARSAD_KEYCLOAK_ADMIN_URL", "MARSAD_KEYCLOAK_ADMIN_REALM",
                     "MARSAD_KEYCLOAK_ADMIN_CLIENT_ID", "MARSAD_KEYCLOAK_ADMIN_CLIENT_SECRET")


# No 0/O, 1/l/I: the password is read out or copied by hand once.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def one_time_password(length: int = 16) -> str:
    """Shown once to the manager, never stored in clear; 16 characters of 56 carry about 93 bits."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


class DirectoryUnavailable(RuntimeError):
    """The directory cannot answer (not configured, not implemented, or unreachable)."""


class UserExists(ValueError):
    pass


class UnknownUser(LookupError):
    pass


@dataclass(frozen=True)
class DirectoryUser:
    username: str
    institution: str
    roles: frozenset[str]
    display_name: str = ""
    language: str = "ar"
    active: bool = True
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Invitation:
    user: DirectoryUser
    # Local store: a generated password the manager hands over once; Keycloak sends its own email instead.
    one_time_password: str | None = None


class UserDirectory(Protocol):
    """Where accounts live. Callers ask the policy first: a directory checks no permission."""

    kind: str

    def list(self, institutions: Iterable[str] | None = None) -> list[DirectoryUser]:
        """Accounts of these institutions (None: every institution), active or not."""

    def get(self, username: str) -> DirectoryUser | None: ...

    def invite(self, username: str, institution: str, roles: Iterable[str], *,
               display_name: str = "", language: str = "ar") -> Invitation: ...

    def deactivate(self, username: str) -> DirectoryUser: ...

    def set_roles(self, username: str, roles: Iterable[str]) -> DirectoryUser: ...

    def set_password(self, username: str, password: str) -> DirectoryUser: ...


def _user(account: Account) -> DirectoryUser:
    return DirectoryUser(username=account.username, institution=account.institution, roles=account.role_set,
                         display_name=account.display_name, language=account.language, active=account.active,
                         created_at=account.created_at)


class LocalDirectory:
    """The local account store (services.accounts): demo, training sandboxes, offline sites."""

    kind = "local"

    def __init__(self, session: Session):
        self.session = session

    def _account(self, username: str) -> Account:
        account = accounts.find(self.session, username)
        if account is None:
            raise UnknownUser(username)
        return account

    def list(self, institutions=None) -> list[DirectoryUser]:
        query = select(Account).order_by(Account.institution, Account.username)
        if institutions is not None:
            query = query.where(Account.institution.in_(sorted(institutions)))
        return [_user(a) for a in self.session.exec(query)]

    def get(self, username: str) -> DirectoryUser | None:
        account = accounts.find(self.session, username)
        return _user(account) if account else None

    def invite(self, username, institution, roles, *, display_name="", language="ar") -> Invitation:
        if accounts.find(self.session, username) is not None:
            raise UserExists(username)
        password = one_time_password()
        try:
            account = accounts.create(self.session, username, password, institution, roles,
                                      display_name=display_name, language=language)
        except IntegrityError:  # created by someone else between the check and the insert
            self.session.rollback()
            raise UserExists(username) from None
        return Invitation(_user(account), password)

    def _change(self, account: Account) -> DirectoryUser:
        # Whatever changed (active, roles, password), the account's open sessions end with it.
        revoke_user(self.session, account.username)
        self.session.add(account)
        self.session.commit()
        return _user(account)

    def deactivate(self, username: str) -> DirectoryUser:
        account = self._account(username)
        account.active = False
        return self._change(account)

    def set_roles(self, username: str, roles) -> DirectoryUser:
        account = self._account(username)
        account.roles = " ".join(sorted(set(roles)))
        return self._change(account)

    def set_password(self, username: str, password: str) -> DirectoryUser:
        account = self._account(username)
        account.password_hash = accounts.hash_password(password)
        return self._change(account)


class KeycloakDirectory:
    """Production accounts in Keycloak, through its admin REST API: NOT IMPLEMENTED YET.

    The Provisioning issue writes it with python-keycloak (list a realm group's members, create a
    user with the UPDATE_PASSWORD required action and an invitation email, disable a user,
    add/remove realm roles). Until then every call raises DirectoryUnavailable, and the portal
    says so instead of pretending; accounts are managed in Keycloak's own console meanwhile.
    """

    kind = "keycloak"

    def __init__(self, environ=None):
        env = section(IdentityEnv, environ)
        self.settings = {name: getattr(env, name.removeprefix("MARSAD_").lower()) for name in KEYCLOAK_SETTINGS}

    @property
    def missing(self) -> list[str]:
        return [name for name, value in self.settings.items() if not value]

    def _unavailable(self):
        missing = f" (missing: {', '.join(self.missing)})" if self.missing else ""
        raise DirectoryUnavailable(
            "User administration through Keycloak is not available: configure MARSAD_KEYCLOAK_ADMIN_*"
            f"{missing} — the Keycloak adapter is implemented in the Provisioning issue. Until then, "
            "manage accounts in Keycloak's admin console.")

    def list(self, institutions=None):
        self._unavailable()

    def get(self, username):
        self._unavailable()

    def invite(self, username, institution, roles, *, display_name="", language="ar"):
        self._unavailable()

    def deactivate(self, username):
        self._unavailable()

    def set_roles(self, username, roles):
        self._unavailable()

    def set_password(self, username, password):
        self._unavailable()


def user_directory() -> UserDirectory:
    """The application's directory: USER_DIRECTORY if configured (a callable), else local accounts
    when they are on (demo, sandbox), else Keycloak."""
    factory = current_app.config.get("USER_DIRECTORY")
    if factory is not None:
        return factory()
    if current_app.config["LOCAL_ACCOUNTS"]:
        return LocalDirectory(db_session())
    return KeycloakDirectory()


def active_counts(directory: UserDirectory) -> dict[str, int] | None:
    """Active accounts per institution code; None when the directory cannot answer."""
    try:
        users = directory.list()
    except DirectoryUnavailable:
        return None
    counts: dict[str, int] = {}
    for user in users:
        if user.active:
            counts[user.institution] = counts.get(user.institution, 0) + 1
    return counts


# --- what the policy lets the principal do ---------------------------------------------------

def _policies():
    return runtime().policies


def in_reach(action: str) -> list[str]:
    """Institution codes the principal may `action` (users.read or users.manage) on, in policy order."""
    reach = institutions_in_reach(_policies(), current_principal(), action)
    return [code for code in _policies().institutions if code in reach]


def may_grant(institution: str, role: str) -> bool:
    return bool(decide(_policies(), current_principal(), "users.manage",
                       Resource("users", institution=institution, role=role)))


def grantable_roles(institution: str) -> list[str]:
    """Roles the principal may grant or revoke on an account of `institution`, in roles.yaml order."""
    return [code for code in _policies().roles if may_grant(institution, code)]


def counting_roles(user: DirectoryUser) -> set[str]:
    """The account's roles that grant something outside sandboxes: allowed by its agreement, not sandbox-only."""
    policies = _policies()
    return {r for r in user.roles if r in policies.roles_allowed(user.institution)
            and r in policies.roles and not policies.roles[r].sandbox_only}


def may_manage(user: DirectoryUser) -> bool:
    return bool(decide(_policies(), current_principal(), "users.manage",
                       Resource("users", institution=user.institution)))


def refuse(action: str, why: str, target: str | None = None) -> None:
    """Record a refused change (a forged or stale form) and answer 403."""
    principal = current_principal()
    audit.record(db_session(), actor=principal.username, institution=principal.institution,
                 action="users.manage.denied", target=target, details={"attempt": action, "reason": why})
    abort(403)


def require_manage(resource: Resource, attempt: str, target: str | None = None) -> None:
    answer = decide(_policies(), current_principal(), "users.manage", resource)
    if not answer:
        refuse(attempt, answer.reason, target)


def record_change(action: str, user: DirectoryUser, **details) -> None:
    principal = current_principal()
    audit.record(db_session(), actor=principal.username, institution=principal.institution, action=action,
                 target=f"user:{user.username}",
                 details={"institution": user.institution, "directory": user_directory().kind, **details})


# --- views -----------------------------------------------------------------------------------

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.before_app_request
def _drop_sessions_whose_roles_changed():
    """A local account whose roles were changed signs in again: a revoked role must not live on
    in an open session for hours. (Deactivated accounts are dropped by portal.auth.)"""
    if login_method() != "local" or request.endpoint in ("static", "health.healthz"):
        return
    principal = current_principal()
    account = accounts.find(db_session(), principal.username) if principal else None
    if account is not None and account.role_set != principal.roles:
        sign_out()


def _gate(action: str) -> None:
    """Signed in and allowed `action` on its own institution's accounts: the question every view asks first."""
    if current_principal() is None:
        abort(redirect(login_url()))
    answer = decide(_policies(), current_principal(), action, own("users"))
    if not answer:
        if action == "users.manage" and request.method == "POST":
            refuse(request.endpoint or action, answer.reason)
        abort(403)


def _unavailable(error: DirectoryUnavailable):
    return render_template("users/unavailable.html", detail=str(error)), 503


@bp.errorhandler(DirectoryUnavailable)
def _directory_unavailable(error):
    return _unavailable(error)


def _load(username: str | None) -> DirectoryUser:
    user = user_directory().get(username) if username else None
    if user is None:
        abort(404)
    return user


@bp.route("")
def index():
    _gate("users.read")
    readable = in_reach("users.read")
    institution = request.args.get("institution") or None
    if institution is not None and institution not in readable:
        abort(403)
    shown = "all" if request.args.get("show") == "all" else "active"
    users = user_directory().list([institution] if institution else readable)
    if shown == "active":
        users = [u for u in users if u.active]
    manageable = set(in_reach("users.manage"))
    return render_template("users/index.html", users=users, institutions=readable if len(readable) > 1 else [],
                           filters={"institution": institution, "show": shown},
                           manageable=manageable, may_invite=bool(manageable))


@bp.route("/new", methods=["GET", "POST"])
def new():
    _gate("users.manage")
    institutions = in_reach("users.manage")
    chosen = request.values.get("institution") or (institutions[0] if len(institutions) == 1 else None)
    if chosen is not None and chosen not in institutions:
        if request.method == "POST":
            require_manage(Resource("users", institution=chosen), "users.invite")
        abort(403)
    if request.method == "GET" or chosen is None:
        return _invite_form(institutions, chosen)

    roles = set(request.form.getlist("roles"))
    for role in sorted(roles):  # asked again: the form may be stale or forged
        require_manage(Resource("users", institution=chosen, role=role), "users.invite")
    form = {"username": request.form.get("username", "").strip().lower(),
            "display_name": " ".join(request.form.get("display_name", "").split())[:255],
            "language": request.form.get("language", ""), "roles": roles}
    problems = []
    if not USERNAME.match(form["username"]):
        problems.append(_("A username is 2 to 64 characters: lower-case letters, digits, dots, hyphens "
                          "and underscores, starting with a letter or a digit."))
    if form["language"] not in LANGUAGES:
        problems.append(_("Choose the account's language."))
    if not roles:
        problems.append(_("Give the account at least one role."))
    if problems:
        return _invite_form(institutions, chosen, form, problems), 400
    try:
        invitation = user_directory().invite(form["username"], chosen, sorted(roles),
                                             display_name=form["display_name"], language=form["language"])
    except UserExists:
        return _invite_form(institutions, chosen, form, [_("This username is taken.")]), 409
    record_change("users.invite", invitation.user, roles=sorted(roles))
    # Rendered, not redirected: the password must not travel through the (signed, not encrypted)
    # session cookie that carries flashed messages. Pages are never cached (security headers).
    return render_template("users/created.html", invitation=invitation)


def _invite_form(institutions, chosen, form=None, problems=()):
    return render_template("users/new.html", institutions=institutions, chosen=chosen,
                           roles=grantable_roles(chosen) if chosen else [],
                           form=form or {"language": current_language(), "roles": set()}, problems=problems)


@bp.route("/account")
def account():
    _gate("users.read")
    user = _load(request.args.get("username"))
    if not decide(_policies(), current_principal(), "users.read", Resource("users", institution=user.institution)):
        abort(403)
    itself = user.username == current_principal().username
    manageable = may_manage(user) and not itself
    offered = grantable_roles(user.institution) if manageable else []
    return render_template("users/account.html", user=user, itself=itself, manageable=manageable,
                           offered=offered, fixed=sorted(user.roles - set(offered)),
                           may_deactivate=manageable and user.active and _may_revoke_all(user))


def _may_revoke_all(user: DirectoryUser) -> bool:
    # Deactivating takes every role away, so the manager must be allowed to revoke each that counts.
    return all(may_grant(user.institution, role) for role in counting_roles(user))


def _managed_user(attempt: str) -> DirectoryUser:
    """The account a POST names, after asking whether the principal may manage it at all."""
    user = _load(request.form.get("username"))
    require_manage(Resource("users", institution=user.institution), attempt, f"user:{user.username}")
    if user.username == current_principal().username:
        flash(_("Another manager must change your own account."), "error")
        abort(redirect(url_for("users.account", username=user.username), 303))
    return user


@bp.route("/roles", methods=["POST"])
def set_roles():
    _gate("users.manage")
    user = _managed_user("users.roles")
    offered = set(grantable_roles(user.institution))
    requested = set(request.form.getlist("roles"))
    # Roles the principal may not touch stay as they are (their checkboxes are disabled, so not sent).
    roles = (requested & offered) | (user.roles - offered)
    for role in sorted((requested - offered) | (roles ^ user.roles)):
        require_manage(Resource("users", institution=user.institution, role=role), "users.roles",
                       f"user:{user.username}")
    if not roles:
        flash(_("An account needs at least one role; deactivate it instead."), "error")
    elif roles == user.roles:
        flash(_("Nothing changed."), "info")
    else:
        changed = user_directory().set_roles(user.username, roles)
        record_change("users.roles", changed, added=sorted(roles - user.roles), removed=sorted(user.roles - roles),
                      roles=sorted(roles))
        flash(_("The roles of %(user)s were changed.", user=user.username), "success")
    return redirect(url_for("users.account", username=user.username), 303)


@bp.route("/deactivate", methods=["POST"])
def deactivate():
    _gate("users.manage")
    user = _managed_user("users.deactivate")
    for role in sorted(counting_roles(user)):
        require_manage(Resource("users", institution=user.institution, role=role), "users.deactivate",
                       f"user:{user.username}")
    if user.active:
        changed = user_directory().deactivate(user.username)
        record_change("users.deactivate", changed, roles=sorted(user.roles))
        flash(_("The account %(user)s is deactivated; its open sessions end at their next request.",
                user=user.username), "success")
    return redirect(url_for("users.account", username=user.username), 303)
