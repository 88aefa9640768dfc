"""The portal's administration pages: delegated user administration, the audit log viewer and the
partners overview, through Flask's test client on a temporary SQLite database."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from services import accounts, audit, db
from services.models import Account, AuditEntry
from services.policy import default_policies

from portal import create_app
from portal.users import DirectoryUnavailable, KeycloakDirectory
from tests.portal_fixtures import (app, border_crossings_csv, client, crossing, login, logout,  # noqa: F401
                                   portal_engine, portal_env, post, upload)

INS_FOCAL_POINT = "ins.focal_point"
ADMIN = "onm.admin"
AUDITOR = "onm.auditor"
SUBMITTER = "mi-paf.submitter"


def invite(client, institution: str, username: str, roles, **extra):
    return post(client, "/users/new", {"institution": institution, "username": username, "display_name": "Amira",
                                       "language": "ar", "roles": list(roles), **extra})


def one_time_password(response) -> str:
    found = re.search(r'<code id="one-time-password">([^<]+)</code>', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def account(engine, username: str) -> Account | None:
    with db.session(engine) as s:
        return accounts.find(s, username)


def audit_actions(engine) -> list[AuditEntry]:
    with db.session(engine) as s:
        return list(s.exec(select(AuditEntry).order_by(AuditEntry.id)))


def offered_roles(page: str) -> set[str]:
    return set(re.findall(r'name="roles" value="([a-z_]+)"', page))


# --- delegated user administration -------------------------------------------------------------

def test_focal_point_is_offered_only_the_roles_its_agreement_allows(client):
    login(client, INS_FOCAL_POINT)
    page = client.get("/users/new?lang=en").get_data(as_text=True)
    # INS's agreement: focal_point, analyst, trainee; trainees come with their sandbox, not from here.
    assert offered_roles(page) == {"focal_point", "analyst"}
    assert 'name="institution" value="INS"' in page


def test_focal_point_creates_an_account_of_its_institution(client, portal_engine):
    login(client, INS_FOCAL_POINT)
    response = invite(client, "INS", "ins.amira", ["analyst"])
    assert response.status_code == 200
    password = one_time_password(response)
    created = account(portal_engine, "ins.amira")
    assert created.institution == "INS" and created.role_set == {"analyst"} and created.active
    assert password not in created.password_hash
    # Shown once: the account page does not show it again.
    assert password not in client.get("/users/account?username=ins.amira").get_data(as_text=True)

    entry = [e for e in audit_actions(portal_engine) if e.action == "users.invite"][-1]
    assert entry.actor == INS_FOCAL_POINT and entry.target == "user:ins.amira"
    assert entry.details["institution"] == "INS" and entry.details["roles"] == ["analyst"]
    assert password not in str(entry.details)

    logout(client)
    assert login(client, "ins.amira", password).status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("role", ["submitter", "onm_analyst", "admin", "trainee", "no_such_role"])
def test_focal_point_cannot_grant_a_role_outside_what_it_may_grant(client, portal_engine, role):
    login(client, INS_FOCAL_POINT)
    assert invite(client, "INS", "ins.karim", ["analyst", role]).status_code == 403
    assert account(portal_engine, "ins.karim") is None
    denied = [e for e in audit_actions(portal_engine) if e.action == "users.manage.denied"]
    assert denied and denied[-1].actor == INS_FOCAL_POINT


def test_focal_point_cannot_touch_another_institutions_accounts(client, portal_engine):
    login(client, INS_FOCAL_POINT)
    assert invite(client, "MI", "mi.karim", ["analyst"]).status_code == 403
    assert account(portal_engine, "mi.karim") is None
    assert post(client, "/users/roles", {"username": "mi.submitter", "roles": ["analyst"]}).status_code == 403
    assert post(client, "/users/deactivate", {"username": "mi.submitter"}).status_code == 403
    assert client.get("/users/account?username=mi.submitter").status_code == 403
    assert client.get("/users?institution=MI").status_code == 403
    listing = client.get("/users").get_data(as_text=True)
    assert "ins.analyst" in listing and "mi.submitter" not in listing
    untouched = account(portal_engine, "mi.submitter")
    assert untouched.active and untouched.role_set == {"submitter"}


def test_a_parent_manages_its_units_accounts(client, portal_engine):
    login(client, "mi.focal_point")  # settings.parent_covers_units: the Ministry reaches the Border Police
    page = client.get("/users/new?institution=MI-PAF").get_data(as_text=True)
    assert offered_roles(page) == {"submitter", "focal_point", "analyst"}
    assert invite(client, "MI-PAF", "mi-paf.sami", ["submitter"]).status_code == 200
    assert account(portal_engine, "mi-paf.sami").institution == "MI-PAF"
    logout(client)
    login(client, "mi-paf.focal_point")  # never the reverse
    assert invite(client, "MI", "mi.sami", ["analyst"]).status_code == 403


def test_admin_manages_every_institution(client, portal_engine):
    login(client, ADMIN)
    page = client.get("/users/new?institution=MI-PAF").get_data(as_text=True)
    assert offered_roles(page) == {"submitter", "focal_point", "analyst"}
    assert offered_roles(client.get("/users/new?institution=ONM").get_data(as_text=True)) == {
        "onm_analyst", "admin", "auditor", "trainer"}
    assert invite(client, "MI-PAF", "mi-paf.sami", ["submitter"]).status_code == 200

    response = post(client, "/users/roles", {"username": "ins.analyst", "roles": ["analyst", "focal_point"]})
    assert response.status_code == 303
    assert account(portal_engine, "ins.analyst").role_set == {"analyst", "focal_point"}
    assert post(client, "/users/deactivate", {"username": "mi.submitter"}).status_code == 303
    assert not account(portal_engine, "mi.submitter").active

    entries = {e.action: e for e in audit_actions(portal_engine)}
    assert entries["users.roles"].details["added"] == ["focal_point"]
    assert entries["users.roles"].details["removed"] == []
    assert entries["users.deactivate"].target == "user:mi.submitter"
    logout(client)
    assert login(client, "mi.submitter").status_code == 401  # deactivated


def test_roles_a_manager_may_not_grant_stay_as_they_are(client, portal_engine):
    with db.session(portal_engine) as s:  # an INS account holding a role INS's agreement no longer allows
        accounts.create(s, "ins.legacy", "x" * 12, "INS", ["analyst", "submitter"])
    login(client, INS_FOCAL_POINT)
    page = client.get("/users/account?username=ins.legacy").get_data(as_text=True)
    assert 'value="submitter"' not in page and "disabled" in page
    assert post(client, "/users/roles", {"username": "ins.legacy", "roles": ["focal_point"]}).status_code == 303
    assert account(portal_engine, "ins.legacy").role_set == {"focal_point", "submitter"}
    # Asking for that role by a forged form is refused and changes nothing.
    assert post(client, "/users/roles", {"username": "ins.legacy", "roles": ["analyst", "submitter"]}).status_code == 403
    assert account(portal_engine, "ins.legacy").role_set == {"focal_point", "submitter"}


def test_a_manager_does_not_change_its_own_account(client, portal_engine):
    login(client, INS_FOCAL_POINT)
    assert "Save the roles" not in client.get("/users/account?username=ins.focal_point&lang=en").get_data(as_text=True)
    response = post(client, "/users/roles", {"username": INS_FOCAL_POINT, "roles": ["analyst", "focal_point"]})
    assert response.status_code == 303
    assert post(client, "/users/deactivate", {"username": INS_FOCAL_POINT}).status_code == 303
    mine = account(portal_engine, INS_FOCAL_POINT)
    assert mine.role_set == {"focal_point"} and mine.active


def test_an_open_session_ends_when_its_roles_change(app, portal_engine):
    user, manager = app.test_client(), app.test_client()
    login(user, "ins.analyst")
    assert user.get("/").status_code == 200
    login(manager, INS_FOCAL_POINT)
    assert post(manager, "/users/roles", {"username": "ins.analyst", "roles": ["focal_point"]}).status_code == 303
    assert user.get("/").status_code == 302  # signs in again, and then holds the new roles
    login(user, "ins.analyst")
    assert user.get("/users").status_code == 200


def test_invitation_form_problems(client, portal_engine):
    login(client, INS_FOCAL_POINT)
    client.get("/?lang=en")
    for username in ("", "A", "Amira Ben Salah", "-dash-first", "x" * 65):
        response = invite(client, "INS", username, ["analyst"])
        assert response.status_code == 400, username
    assert invite(client, "INS", "ins.nobody", []).status_code == 400
    response = invite(client, "INS", "ins.analyst", ["analyst"])  # a seeded account
    assert response.status_code == 409 and "taken" in response.get_data(as_text=True)
    assert account(portal_engine, "ins.nobody") is None


def test_readers_without_users_manage_see_but_do_not_change(client, portal_engine):
    login(client, AUDITOR)  # users.read on every institution, no users.manage
    page = client.get("/users?institution=MI-PAF&lang=en").get_data(as_text=True)
    assert "mi-paf.submitter" in page and "Invite a user" not in page
    assert "Save the roles" not in client.get("/users/account?username=mi-paf.submitter&lang=en").get_data(as_text=True)
    assert client.get("/users/new").status_code == 403
    assert post(client, "/users/deactivate", {"username": "mi-paf.submitter"}).status_code == 403
    assert account(portal_engine, "mi-paf.submitter").active
    logout(client)
    login(client, SUBMITTER)
    assert client.get("/users").status_code == 403


def test_unknown_account_is_not_found(client):
    login(client, ADMIN)
    assert client.get("/users/account?username=nobody").status_code == 404
    assert client.get("/users/account").status_code == 404
    assert post(client, "/users/roles", {"username": "nobody", "roles": ["analyst"]}).status_code == 404


def test_keycloak_directory_says_it_is_not_implemented_yet(portal_engine):
    directory = KeycloakDirectory(environ={})
    with pytest.raises(DirectoryUnavailable, match=r"MARSAD_KEYCLOAK_ADMIN_\*.*Provisioning issue"):
        directory.list()
    with pytest.raises(DirectoryUnavailable, match="Provisioning issue"):
        directory.invite("x.y", "INS", ["analyst"])
    # Without local accounts the portal uses it, and says so rather than failing.
    client = create_app({"TESTING": True, "ENGINE": portal_engine, "LOCAL_ACCOUNTS": False}).test_client()
    with client.session_transaction() as sess:
        sess["principal"] = {"username": "onm.admin", "institution": "ONM", "roles": ["admin"], "method": "oidc"}
    response = client.get("/users?lang=en")
    assert response.status_code == 503
    assert "MARSAD_KEYCLOAK_ADMIN_" in response.get_data(as_text=True)
    partners = client.get("/partners?lang=en")
    assert partners.status_code == 200 and "user directory cannot be reached" in partners.get_data(as_text=True)


# --- audit log ---------------------------------------------------------------------------------

def test_auditor_reads_the_audit_log_and_the_reading_is_recorded(client, portal_engine):
    login(client, AUDITOR)
    response = client.get("/audit?lang=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-chain="intact"' in page and "auth.login" in page
    reads = [e for e in audit_actions(portal_engine) if e.action == "audit.read"]
    assert len(reads) == 1 and reads[0].actor == AUDITOR
    client.get("/audit?action=auth.login&page=1")
    reads = [e for e in audit_actions(portal_engine) if e.action == "audit.read"]
    assert reads[-1].details == {"filters": {"action": "auth.login"}, "page": 1}


def test_admin_reads_the_audit_log_and_others_may_not(client):
    login(client, ADMIN)
    assert client.get("/audit").status_code == 200
    for username in (SUBMITTER, INS_FOCAL_POINT, "onm.onm_analyst"):
        logout(client)
        login(client, username)
        assert client.get("/audit").status_code == 403, username


def test_audit_log_filters_and_pages(client, portal_engine):
    with db.session(portal_engine) as s:
        for n in range(60):
            audit.record(s, actor=f"mi-paf.bot{n % 3}", institution="MI-PAF", action="submission.create",
                         target=f"submission:{n}")
        audit.record(s, actor="unhcr.submitter", institution="UNHCR", action="microdata.read",
                     target="dataset:asylum_refugees")
    login(client, AUDITOR)
    page = client.get("/audit?action=submission.create&lang=en").get_data(as_text=True)
    assert "60 entries, page 1 of 2" in page and 'rel="next"' in page
    assert "60 entries, page 2 of 2" in client.get("/audit?action=submission.create&page=2&lang=en").get_data(as_text=True)
    page = client.get("/audit?actor=BOT1&lang=en").get_data(as_text=True)
    assert "20 entries" in page
    page = client.get("/audit?institution=UNHCR&lang=en").get_data(as_text=True)
    assert "microdata.read" in page and "submission.create" not in page.split("<tbody>", 1)[1]
    page = client.get("/audit?sensitive=1&lang=en").get_data(as_text=True)
    assert "1 entries" in page and 'class="sensitive"' in page
    page = client.get("/audit?since=2000-01-01&until=2000-12-31&lang=en").get_data(as_text=True)
    assert "No entry matches" in page
    page = client.get("/audit?since=yesterday&lang=en").get_data(as_text=True)
    assert "is not a date" in page


def test_audit_log_shows_a_broken_chain(client, portal_engine):
    login(client, AUDITOR)
    with db.session(portal_engine) as s:
        first = s.exec(select(AuditEntry).order_by(AuditEntry.id)).first()
        first.actor = "someone-else"
        s.add(first)
        s.commit()
    page = client.get("/audit?lang=en").get_data(as_text=True)
    assert 'data-chain="broken"' in page and "content altered" in page


# --- partners ----------------------------------------------------------------------------------

def test_partners_overview_for_the_administrator(client):
    login(client, SUBMITTER)
    assert upload(client, border_crossings_csv([crossing(1)])).status_code == 303
    assert client.get("/partners").status_code == 403
    logout(client)
    for username in (AUDITOR, "onm.onm_analyst", INS_FOCAL_POINT):
        login(client, username)
        assert client.get("/partners").status_code == 403, username
        logout(client)

    login(client, ADMIN)
    page = client.get("/partners?lang=ar").get_data(as_text=True)
    policies = default_policies()
    assert policies.institutions["MI-PAF"].names["ar"] in page and policies.institutions["INS"].names["ar"] in page
    row = page.split('id="partner-MI-PAF"', 1)[1].split("</tr>", 1)[0]
    assert "/submissions/1" in row and "status-validated" in row
    assert 'href="/users?institution=MI-PAF">3<' in row  # demo accounts: submitter, focal point, analyst
