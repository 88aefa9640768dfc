"""`decide` over the repository's policies: a table of cases, then properties over every pair."""
from __future__ import annotations

import builtins
import dataclasses
import itertools
from pathlib import Path

import pytest

from services.policy import (
    ACTIONS, Decision, Principal, Resource, decide, institutions_in_reach, load_policies,
)

POLICIES = load_policies()


def P(institution: str, *roles: str, unit: str | None = None, sandbox: str | None = None) -> Principal:
    return Principal(username=f"{institution.lower()}.{'+'.join(roles) or 'nobody'}", institution=institution,
                     roles=frozenset(roles), unit=unit, sandbox=sandbox)


def R(kind: str, institution: str | None = None, dataset: str | None = None, *, role: str | None = None,
      sandbox: str | None = None) -> Resource:
    return Resource(kind=kind, institution=institution, dataset=dataset, role=role, sandbox=sandbox)


ALLOW, DENY = True, False

# (principal, action, resource, allowed, level for reads)
CASES = {
    # submitting: only one's own datasets, only in one's own name
    "border police submits border crossings": (P("MI-PAF", "submitter"), "submission.create",
                                               R("submission", "MI-PAF", "border_crossings"), ALLOW, None),
    "unit user given as the ministry and its unit": (P("MI", "submitter", unit="MI-PAF"), "submission.create",
                                                     R("dataset", "MI-PAF", "border_crossings"), ALLOW, None),
    "National Guard submits interceptions": (P("MI-GN", "submitter"), "submission.create",
                                             R("dataset", "MI-GN", "interceptions"), ALLOW, None),
    "border police may not submit interceptions": (P("MI-PAF", "submitter"), "submission.create",
                                                   R("dataset", "MI-PAF", "interceptions"), DENY, None),
    "border police may not submit residence permits": (P("MI-PAF", "submitter"), "submission.create",
                                                       R("dataset", "MI-PAF", "residence_permits"), DENY, None),
    "the ministry submits residence permits": (P("MI", "submitter"), "submission.create",
                                               R("dataset", "MI", "residence_permits"), ALLOW, None),
    "the ministry does not submit for its unit": (P("MI", "focal_point"), "submission.create",
                                                  R("dataset", "MI-PAF", "border_crossings"), DENY, None),
    "ANETI submits placements abroad": (P("ANETI", "submitter"), "submission.create",
                                        R("dataset", "ANETI", "placements_abroad"), ALLOW, None),
    "ANETI does not submit in MEFP's name": (P("ANETI", "submitter"), "submission.create",
                                             R("dataset", "MEFP", "work_permits"), DENY, None),
    "MEFP submits work permits": (P("MEFP", "submitter"), "submission.create",
                                  R("dataset", "MEFP", "work_permits"), ALLOW, None),
    "UNHCR submits asylum and refugees": (P("UNHCR", "focal_point"), "submission.create",
                                          R("dataset", "UNHCR", "asylum_refugees"), ALLOW, None),
    "INS has no submitter role": (P("INS", "submitter"), "submission.create",
                                  R("dataset", "INS", "border_crossings"), DENY, None),
    "an analyst does not submit": (P("OTE", "analyst"), "submission.create", R("dataset", "OTE", "returnees"),
                                   DENY, None),
    "a submission needs a dataset": (P("OTE", "submitter"), "submission.create", R("dataset", "OTE"), DENY, None),

    # the workflow: focal points approve their own, the observatory accepts
    "focal point approves its own": (P("MI-PAF", "focal_point"), "submission.approve",
                                     R("submission", "MI-PAF", "border_crossings"), ALLOW, None),
    "focal point does not approve a sibling unit's": (P("MI-PAF", "focal_point"), "submission.approve",
                                                      R("submission", "MI-GN", "border_crossings"), DENY, None),
    "the ministry's focal point approves its units'": (P("MI", "focal_point"), "submission.approve",
                                                       R("submission", "MI-GN", "interceptions"), ALLOW, None),
    "a unit's focal point does not approve the ministry's": (P("MI-GN", "focal_point"), "submission.approve",
                                                             R("submission", "MI", "residence_permits"), DENY, None),
    "focal point does not approve another institution's": (P("ANETI", "focal_point"), "submission.approve",
                                                           R("submission", "UNHCR"), DENY, None),
    "a submitter does not approve": (P("ANETI", "submitter"), "submission.approve", R("submission", "ANETI"),
                                     DENY, None),
    "an approval names the institution": (P("ANETI", "focal_point"), "submission.approve", R("submission"),
                                          DENY, None),
    "ONM analyst accepts": (P("ONM", "onm_analyst"), "submission.accept", R("submission", "MI-PAF"), ALLOW, None),
    "focal point does not accept even its own": (P("ANETI", "focal_point"), "submission.accept",
                                                 R("submission", "ANETI"), DENY, None),
    "an observatory role held elsewhere counts for nothing": (P("INS", "onm_analyst"), "submission.accept",
                                                              R("submission", "INS"), DENY, None),
    "admin does not accept": (P("ONM", "admin"), "submission.accept", R("submission", "OTE"), DENY, None),
    "ONM analyst rejects anyone's": (P("ONM", "onm_analyst"), "submission.reject", R("submission", "UNHCR"),
                                     ALLOW, None),
    "focal point rejects its own": (P("OTE", "focal_point"), "submission.reject", R("submission", "OTE"),
                                    ALLOW, None),
    "submitter reads its institution's submissions": (P("OTE", "submitter"), "submission.read",
                                                      R("submission", "OTE"), ALLOW, None),
    "partner analyst does not read another's submissions": (P("INS", "analyst"), "submission.read",
                                                            R("submission", "OTE"), DENY, None),
    "auditor reads every submission": (P("ONM", "auditor"), "submission.read", R("submission", "MAE"), ALLOW, None),

    # indicators: the agreement's level, published or aggregates
    "INS reads aggregates": (P("INS", "analyst"), "indicator.read", R("indicator", dataset="border_crossings"),
                             ALLOW, "aggregates"),
    "ANETI reads other datasets published only": (P("ANETI", "analyst"), "indicator.read",
                                                  R("indicator", dataset="returnees"), ALLOW, "published"),
    "ANETI reads its own dataset's aggregates": (P("ANETI", "analyst"), "indicator.read",
                                                 R("indicator", dataset="placements_abroad"), ALLOW, "aggregates"),
    "CNSS reads published": (P("CNSS", "focal_point"), "indicator.read", R("indicator"), ALLOW, "published"),
    "ONM reads indicators as aggregates": (P("ONM", "onm_analyst"), "indicator.read",
                                           R("indicator", dataset="returnees"), ALLOW, "aggregates"),
    "ONM analyst publishes": (P("ONM", "onm_analyst"), "indicator.publish", R("indicator"), ALLOW, None),
    "admin does not publish": (P("ONM", "admin"), "indicator.publish", R("indicator"), DENY, None),
    "a partner does not publish": (P("INS", "focal_point"), "indicator.publish", R("indicator"), DENY, None),

    # microdata: own rows, or pseudonymised where granted
    "ANETI reads its own rows": (P("ANETI", "analyst"), "microdata.read", R("microdata", "ANETI", "placements_abroad"),
                                 ALLOW, "own_microdata"),
    "ANETI does not read all sources' rows": (P("ANETI", "analyst"), "microdata.read",
                                              R("microdata", None, "placements_abroad"), DENY, None),
    "UNHCR submitter reads its rows": (P("UNHCR", "submitter"), "microdata.read",
                                       R("dataset", "UNHCR", "asylum_refugees"), ALLOW, "own_microdata"),
    "MAE does not read UNHCR's rows": (P("MAE", "analyst"), "microdata.read", R("microdata", "UNHCR", "asylum_refugees"),
                                       DENY, None),
    "National Guard does not read border police rows": (P("MI-GN", "analyst"), "microdata.read",
                                                        R("microdata", "MI-PAF", "border_crossings"), DENY, None),
    "the ministry reads its unit's rows": (P("MI", "analyst"), "microdata.read",
                                           R("microdata", "MI-PAF", "border_crossings"), ALLOW, "own_microdata"),
    "a unit does not read the ministry's rows": (P("MI-PAF", "analyst"), "microdata.read",
                                                 R("microdata", "MI", "residence_permits"), DENY, None),
    "INS reads no microdata": (P("INS", "analyst"), "microdata.read", R("microdata", "MI-PAF", "border_crossings"),
                               DENY, None),
    "ONM reads pseudonymised rows of one source": (P("ONM", "onm_analyst"), "microdata.read",
                                                   R("microdata", "MI-PAF", "border_crossings"),
                                                   ALLOW, "pseudonymised_microdata"),
    "ONM reads pseudonymised rows of all sources": (P("ONM", "onm_analyst"), "microdata.read",
                                                    R("microdata", None, "asylum_refugees"),
                                                    ALLOW, "pseudonymised_microdata"),
    "ONM admin reads no microdata": (P("ONM", "admin"), "microdata.read", R("microdata", "OTE", "returnees"),
                                     DENY, None),
    "ONM auditor reads no microdata": (P("ONM", "auditor"), "microdata.read", R("microdata", "OTE", "returnees"),
                                       DENY, None),

    # accounts: focal points within their institution and its agreement, admin everywhere
    "focal point adds a submitter": (P("ANETI", "focal_point"), "users.manage", R("users", "ANETI", role="submitter"),
                                     ALLOW, None),
    "focal point lists its users": (P("ANETI", "focal_point"), "users.read", R("users", "ANETI"), ALLOW, None),
    "focal point does not manage another institution's users": (P("ANETI", "focal_point"), "users.manage",
                                                                R("users", "OTE", role="submitter"), DENY, None),
    "focal point does not grant an observatory role": (P("ANETI", "focal_point"), "users.manage",
                                                       R("users", "ANETI", role="onm_analyst"), DENY, None),
    "focal point does not grant a role its agreement lacks": (P("INS", "focal_point"), "users.manage",
                                                              R("users", "INS", role="submitter"), DENY, None),
    "focal point does not create trainees": (P("ANETI", "focal_point"), "users.manage",
                                             R("users", "ANETI", role="trainee"), DENY, None),
    "the ministry's focal point manages its units' users": (P("MI", "focal_point"), "users.manage",
                                                            R("users", "MI-PAF", role="analyst"), ALLOW, None),
    "admin grants a partner focal point": (P("ONM", "admin"), "users.manage", R("users", "UNHCR", role="focal_point"),
                                           ALLOW, None),
    "admin grants an ONM analyst at ONM": (P("ONM", "admin"), "users.manage", R("users", "ONM", role="onm_analyst"),
                                           ALLOW, None),
    "admin does not grant an ONM role to a partner": (P("ONM", "admin"), "users.manage",
                                                      R("users", "INS", role="onm_analyst"), DENY, None),
    "admin does not grant an unknown role": (P("ONM", "admin"), "users.manage", R("users", "INS", role="director"),
                                             DENY, None),
    "admin manages institutions": (P("ONM", "admin"), "institutions.manage", R("institutions"), ALLOW, None),
    "focal point does not manage institutions": (P("MI", "focal_point"), "institutions.manage", R("institutions"),
                                                 DENY, None),
    "auditor reads the audit trail": (P("ONM", "auditor"), "audit.read", R("audit"), ALLOW, None),
    "a partner does not read the audit trail": (P("MAE", "focal_point"), "audit.read", R("audit", "MAE"), DENY, None),
    "ONM analyst does not read the audit trail": (P("ONM", "onm_analyst"), "audit.read", R("audit"), DENY, None),
    "anyone with a role reads the catalog": (P("CNSS", "analyst"), "catalog.read", R("catalog"), ALLOW, None),

    # sandboxes: trainers manage them from outside; trainees act only inside
    "trainer creates a sandbox": (P("ONM", "trainer"), "sandbox.manage", R("sandbox", sandbox="tunis-2025-03"),
                                  ALLOW, None),
    "an analyst does not create sandboxes": (P("ONM", "onm_analyst"), "sandbox.manage", R("sandbox", sandbox="s1"),
                                             DENY, None),
    "sandboxes are not managed from inside one": (P("ONM", "trainer", sandbox="s1"), "sandbox.manage",
                                                  R("sandbox", sandbox="s1"), DENY, None),
    "a trainee outside a sandbox has nothing": (P("ANETI", "trainee"), "submission.create",
                                                R("dataset", "ANETI", "placements_abroad"), DENY, None),
    "a trainee inside a sandbox submits": (P("ANETI", "trainee", sandbox="s1"), "submission.create",
                                           R("dataset", "ANETI", "placements_abroad", sandbox="s1"), ALLOW, None),
    "a trainee does not reach another sandbox": (P("ANETI", "trainee", sandbox="s1"), "submission.create",
                                                 R("dataset", "ANETI", "placements_abroad", sandbox="s2"), DENY, None),
    "a trainee does not reach the real system": (P("ANETI", "trainee", sandbox="s1"), "microdata.read",
                                                 R("microdata", "ANETI", "placements_abroad"), DENY, None),
    "real users do not reach sandbox data": (P("ONM", "onm_analyst"), "microdata.read",
                                             R("microdata", "ANETI", "placements_abroad", sandbox="s1"), DENY, None),
    "a trainee submits only its agreement's datasets": (P("ANETI", "trainee", sandbox="s1"), "submission.create",
                                                        R("dataset", "ANETI", "returnees", sandbox="s1"), DENY, None),

    # deny by default
    "an unknown institution gets nothing": (P("XYZ", "submitter"), "catalog.read", R("catalog"), DENY, None),
    "a unit of another institution is refused": (P("MAE", "submitter", unit="MI-PAF"), "submission.create",
                                                 R("dataset", "MI-PAF", "border_crossings"), DENY, None),
    "no roles, nothing": (P("ONM"), "catalog.read", R("catalog"), DENY, None),
    "an unknown role counts for nothing": (P("ONM", "superuser"), "catalog.read", R("catalog"), DENY, None),
    "an unknown action": (P("ONM", "admin"), "submission.delete", R("submission", "ONM"), DENY, None),
    "an action on the wrong kind of resource": (P("ANETI", "focal_point"), "submission.approve",
                                                R("indicator", "ANETI"), DENY, None),
    "a resource owned by an unknown institution": (P("ONM", "admin"), "users.read", R("users", "XYZ"), DENY, None),
}


@pytest.mark.parametrize("principal, action, resource, allowed, level", CASES.values(), ids=list(CASES))
def test_decision(principal, action, resource, allowed, level):
    decision = decide(POLICIES, principal, action, resource)
    assert decision.allowed is allowed, decision.reason
    assert bool(decision) is allowed
    assert decision.level == level
    assert decision.reason and decision.reason.isascii()


# --- properties over every pair of institutions ------------------------------------------------

PARTNERS = sorted(code for code in POLICIES.institutions if code != POLICIES.settings.observatory)
OWNED_ACTIONS = ["submission.create", "submission.read", "submission.approve", "submission.reject",
                 "submission.accept", "users.read", "users.manage", "audit.read"]


def _unrelated_pairs():
    # The observatory acts across institutions by design; every partner pair is checked.
    for a, b in itertools.permutations(PARTNERS, 2):
        if not POLICIES.covers(a, b):
            yield a, b


@pytest.mark.parametrize("reader, owner", list(_unrelated_pairs()))
def test_no_partner_reaches_anothers_submissions_accounts_or_rows(reader, owner):
    kinds = {"submission.create": "dataset", "users.read": "users", "users.manage": "users", "audit.read": "audit"}
    for role in POLICIES.roles_allowed(reader):
        for sandbox in (None, "s1"):
            who = P(reader, role, sandbox=sandbox)
            for action in OWNED_ACTIONS:
                dataset = (POLICIES.datasets_submitted_by(owner) or ("border_crossings",))[0]
                resource = R(kinds.get(action, "submission"), owner, dataset, sandbox=sandbox)
                assert not decide(POLICIES, who, action, resource), (reader, role, action, owner)
            for dataset in POLICIES.datasets_submitted_by(owner):
                resource = R("microdata", owner, dataset, sandbox=sandbox)
                assert not decide(POLICIES, who, "microdata.read", resource), (reader, role, owner, dataset)


def test_only_the_observatory_reads_every_source():
    readers = {
        code for code in POLICIES.institutions for role in POLICIES.roles_allowed(code)
        if decide(POLICIES, P(code, role), "microdata.read", R("microdata", None, "border_crossings"))
    }
    assert readers == {"ONM"}


def test_every_submitted_dataset_can_be_submitted_read_back_and_accepted():
    onm = P("ONM", "onm_analyst")
    for code, agreement in POLICIES.agreements.items():
        for dataset in agreement.submits:
            submitter = P(code, "submitter")
            assert decide(POLICIES, submitter, "submission.create", R("dataset", code, dataset))
            assert decide(POLICIES, submitter, "microdata.read", R("microdata", code, dataset)).level == "own_microdata"
            assert decide(POLICIES, P(code, "focal_point"), "submission.approve", R("submission", code, dataset))
            assert decide(POLICIES, onm, "submission.accept", R("submission", code, dataset))


def test_reach_lists_the_institutions_a_user_acts_on():
    assert institutions_in_reach(POLICIES, P("MI", "focal_point"), "submission.approve") == {"MI", "MI-PAF", "MI-GN"}
    assert institutions_in_reach(POLICIES, P("MI-PAF", "focal_point"), "submission.approve") == {"MI-PAF"}
    assert institutions_in_reach(POLICIES, P("ONM", "onm_analyst"), "submission.accept") == set(POLICIES.institutions)
    assert institutions_in_reach(POLICIES, P("INS", "analyst"), "submission.read") == {"INS"}
    assert institutions_in_reach(POLICIES, P("CNSS", "analyst"), "microdata.read", "returnees") == set()


def test_without_parent_coverage_the_ministry_keeps_to_its_own():
    policies = dataclasses.replace(
        POLICIES, settings=dataclasses.replace(POLICIES.settings, parent_covers_units=False))
    assert not decide(policies, P("MI", "focal_point"), "submission.approve", R("submission", "MI-PAF"))
    assert not decide(policies, P("MI", "analyst"), "microdata.read", R("microdata", "MI-PAF", "border_crossings"))
    assert decide(policies, P("MI", "focal_point"), "submission.approve", R("submission", "MI"))


def test_roles_the_agreement_does_not_allow_are_ignored_not_fatal():
    who = P("INS", "analyst", "onm_analyst", "submitter")
    assert decide(POLICIES, who, "indicator.read", R("indicator")).level == "aggregates"
    assert not decide(POLICIES, who, "indicator.publish", R("indicator"))


def test_a_denial_says_why():
    decision = decide(POLICIES, P("ANETI", "focal_point"), "submission.approve", R("submission", "OTE"))
    assert decision == Decision(False, "focal_point at ANETI acts on its own institution only, not on OTE")
    decision = decide(POLICIES, P("XYZ", "admin"), "catalog.read", R("catalog"))
    assert "unknown institution 'XYZ'" in decision.reason


def test_every_action_of_the_vocabulary_is_granted_to_some_role():
    granted = set().union(*(role.permissions for role in POLICIES.roles.values()))
    assert granted == ACTIONS


def test_the_decision_does_no_io(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decide touched a file")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(Path, "read_text", refuse)
    monkeypatch.setattr(Path, "open", refuse)
    for principal, action, resource, allowed, _ in CASES.values():
        assert decide(POLICIES, principal, action, resource).allowed is allowed
