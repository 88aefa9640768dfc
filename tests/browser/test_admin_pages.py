"""The administration pages in a browser: the observatory's administrator reviews the partners
and invites a Border Police user (in Arabic), who signs in with the one-time password; the Border
Police focal point changes that user's roles and deactivates the account (in French); the auditor
finds every change in the audit log, chain intact (in English)."""
from __future__ import annotations

import pytest
from sqlmodel import select

from services import db
from services.models import Account, AuditEntry
from services.policy import default_policies

pytestmark = pytest.mark.browser

NEW_USER = "mi-paf.sami.benali"


def stored(engine, username: str) -> Account:
    with db.session(engine) as s:
        return s.exec(select(Account).where(Account.username == username)).one()


def test_partners_users_and_audit_log(browser, live_portal):
    policies = default_policies()

    # --- the administrator, in Arabic
    browser.go("/login?lang=ar")
    browser.sign_in("onm.admin")
    browser.click("nav.main-nav a[href='/partners']")
    assert browser.html == {"lang": "ar", "dir": "rtl"}
    partners = browser.text("table.partners")
    assert policies.institutions["MI-PAF"].names["ar"] in partners and policies.institutions["UNHCR"].names["ar"] in partners
    browser.shoot("partners-ar")

    browser.click("nav.main-nav a[href='/users']")
    assert "mi-paf.submitter" in browser.text("main table")
    browser.shoot("users-ar")

    browser.click("main a.button[href='/users/new']")
    browser.choose("#institution", "MI-PAF")
    browser.submit()
    offered = {box.get_attribute("value") for box in browser.find_all("input[name=roles]")}
    assert offered == {"submitter", "focal_point", "analyst"}
    browser.fill("#username", NEW_USER)
    browser.fill("#display_name", "سامي بن علي")
    browser.choose("#language", "ar")
    browser.find("#role-submitter").click()
    browser.shoot("invite-form-ar")
    browser.submit()
    password = browser.find("#one-time-password").text
    assert len(password) >= 12
    assert stored(live_portal.engine, NEW_USER).role_set == {"submitter"}
    browser.shoot("account-created-ar")
    browser.sign_out()

    # --- the new user signs in with the one-time password
    browser.sign_in(NEW_USER, password)
    assert policies.institutions["MI-PAF"].names["ar"] in browser.text("main h1")
    browser.shoot("new-user-home-ar")
    browser.sign_out()

    # --- the Border Police focal point, in French, changes the roles, then deactivates the account
    browser.go("/login?lang=fr")
    browser.sign_in("mi-paf.focal_point")
    browser.click("nav.main-nav a[href='/users']")
    browser.click(f"main a[href='/users/account?username={NEW_USER}']")
    browser.find("#role-submitter").click()
    browser.find("#role-analyst").click()
    browser.submit("form[action='/users/roles']")
    assert stored(live_portal.engine, NEW_USER).role_set == {"analyst"}
    assert browser.find_all(".message-success")
    browser.shoot("roles-changed-fr")
    browser.submit("form[action='/users/deactivate']")
    assert not stored(live_portal.engine, NEW_USER).active
    assert browser.find_all("main .status-rejected")  # "deactivated"
    browser.shoot("account-deactivated-fr")
    browser.sign_out()

    # --- the auditor, in English, finds the changes; the chain is intact
    browser.go("/login?lang=en")
    browser.sign_in("onm.auditor")
    browser.click("nav.main-nav a[href='/audit']")
    assert browser.find("#chain-status").get_attribute("data-chain") == "intact"
    log = browser.text("table.audit")
    for action in ("users.invite", "users.roles", "users.deactivate", "audit.read"):
        assert action in log, action
    browser.shoot("audit-log-en")
    browser.choose("#f-action", "users.deactivate")
    browser.submit("form.filters")
    rows = browser.find_all("table.audit tbody tr")
    assert len(rows) == 1 and NEW_USER in rows[0].text and "mi-paf.focal_point" in rows[0].text
    browser.shoot("audit-log-filtered-en")
    with db.session(live_portal.engine) as s:
        reads = s.exec(select(AuditEntry).where(AuditEntry.action == "audit.read")).all()
    assert [r.actor for r in reads] == ["onm.auditor", "onm.auditor"]
