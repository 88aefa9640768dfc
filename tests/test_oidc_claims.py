"""Keycloak claims -> Principal (services/identity/claims.py): the convention, table by table."""
from __future__ import annotations

import pytest

from services.identity.claims import ClaimsRefused, group_path, principal_from_claims
from services.policy import Principal, default_policies


@pytest.fixture(scope="module")
def policies():
    return default_policies()


def claims(username="amira", roles=("submitter",), groups=None, **extra) -> dict:
    out = {"preferred_username": username, "realm_access": {"roles": [*roles, "offline_access",
                                                                      "default-roles-marsad"]}}
    if groups is not None:
        out["groups"] = groups
    out.update(extra)
    return out


ACCEPTED = [
    # (what the token says, the principal it is)
    (claims(groups=["/institutions/MI/MI-PAF"]),
     Principal("amira", "MI-PAF", frozenset({"submitter"}))),
    (claims(roles=("onm_analyst", "uma_authorization"), groups=["/institutions/ONM", "/helpdesk"]),
     Principal("amira", "ONM", frozenset({"onm_analyst"}))),
    (claims(roles=("analyst", "focal_point", "not-a-marsad-role"), institution="INS"),
     Principal("amira", "INS", frozenset({"analyst", "focal_point"}))),
    (claims(groups=["/institutions/UNHCR"], institution="UNHCR"),       # both, agreeing
     Principal("amira", "UNHCR", frozenset({"submitter"}))),
    (claims(groups=["/institutions/MI/"]),                              # a trailing slash is the same group
     Principal("amira", "MI", frozenset({"submitter"}))),
    (claims(username="service-account-mi-paf-api", institution="MI-PAF", azp="mi-paf-api"),  # an API client
     Principal("service-account-mi-paf-api", "MI-PAF", frozenset({"submitter"}))),
    (claims(username="  spaced  ", groups="/institutions/INS"),         # one group as a string, name trimmed
     Principal("spaced", "INS", frozenset({"submitter"}))),
]

REFUSED = [
    # (what the token says, the refusal code)
    (claims(groups=["/institutions/XYZ"]), "unknown_institution"),
    (claims(institution="XYZ"), "unknown_institution"),
    (claims(institution=["INS"]), "unknown_institution"),
    (claims(groups=["/helpdesk"]), "no_institution"),
    (claims(groups=["MI-PAF"]), "no_institution"),                      # mapper without full paths
    (claims(), "no_institution"),
    (claims(groups=["/institutions/MI-PAF"]), "misplaced_group"),       # a unit outside its institution
    (claims(groups=["/institutions/INS/MI-PAF"]), "misplaced_group"),
    (claims(groups=["/institutions/INS", "/institutions/MAE"]), "several_institutions"),
    (claims(groups=["/institutions/INS"], institution="MAE"), "conflicting_institution"),
    (claims(roles=(), groups=["/institutions/INS"]), "no_role"),
    (claims(roles=("offline_access",), groups=["/institutions/INS"]), "no_role"),
    (claims(username="", groups=["/institutions/INS"]), "no_username"),
    ({"realm_access": {"roles": ["submitter"]}, "groups": ["/institutions/INS"]}, "no_username"),
]


@pytest.mark.parametrize("token_claims, expected", ACCEPTED)
def test_claims_become_a_principal(policies, token_claims, expected):
    assert principal_from_claims(token_claims, policies) == expected


@pytest.mark.parametrize("token_claims, code", REFUSED)
def test_claims_without_one_known_institution_and_a_role_are_refused(policies, token_claims, code):
    with pytest.raises(ClaimsRefused) as refused:
        principal_from_claims(token_claims, policies)
    assert refused.value.code == code
    assert refused.value.message  # a sentence an operator can act on


def test_the_full_path_hint_is_given_when_the_mapper_sends_bare_names(policies):
    with pytest.raises(ClaimsRefused, match="Full group path"):
        principal_from_claims(claims(groups=["MI-PAF"]), policies)


def test_group_paths_follow_the_policies(policies):
    assert group_path(policies, "ONM") == "/institutions/ONM"
    assert group_path(policies, "MI-PAF") == "/institutions/MI/MI-PAF"
    # Every institution and unit has a path the mapping accepts back.
    for code in policies.institutions:
        role = sorted(policies.roles_allowed(code) - {"trainee"})[0]
        principal = principal_from_claims(claims(roles=(role,), groups=[group_path(policies, code)]), policies)
        assert principal.institution == code


def test_mapping_is_pure(policies):
    token_claims = claims(groups=["/institutions/MI/MI-PAF"])
    before = repr(token_claims)
    principal_from_claims(token_claims, policies)
    assert repr(token_claims) == before
