"""Keycloak token claims -> Principal: the one place that reads who a Keycloak user is.

THE CONVENTION (the Keycloak realm is provisioned to match it; see `INSTITUTIONS_GROUP`):

* Institution: every institution of policies/institutions.yaml is a Keycloak group named by its
  code under the top-level group ``institutions``; every unit is a subgroup of its institution::

      /institutions/INS
      /institutions/MI
      /institutions/MI/MI-PAF

  A user (or the service account of an API client) is a member of exactly one of them. The
  realm's group-membership mapper puts the memberships in the ``groups`` claim with the FULL
  path ("Full group path" on). Groups outside ``/institutions`` (e.g. "/helpdesk") are ignored.
* Optionally an ``institution`` claim (a user-attribute mapper, or a hardcoded-claim mapper on
  an API client) names the institution or unit code. When both are present they must agree.
  The attribute must be one users cannot edit themselves (Keycloak user profile: editable by
  admins only), or anyone could name an institution of their choosing.
* Roles: realm roles named by the role codes of policies/roles.yaml (``submitter``,
  ``focal_point``...), read from ``realm_access.roles``. Keycloak's own roles
  (``offline_access``, ``default-roles-<realm>``...) and any unknown role are ignored; the
  policy decision further ignores roles the institution's agreement does not allow.
* Username: ``preferred_username`` (for a client's service account Keycloak sets
  "service-account-<client id>").

A unit user becomes ``Principal(institution=<unit code>)``, exactly what a local account of the
unit gives, so every view behaves the same whichever way the person signed in.

Pure: reads only its arguments. `principal_from_claims` raises `ClaimsRefused` (with a stable
`code` and a message an operator can act on) rather than guess.
"""
from __future__ import annotations

from typing import Any, Mapping

from services.policy import Policies, Principal

INSTITUTIONS_GROUP = "institutions"       # the top-level Keycloak group holding one subgroup per institution
GROUPS_CLAIM = "groups"                   # group-membership mapper, full path on
INSTITUTION_CLAIM = "institution"         # optional user-attribute or hardcoded-claim mapper
ROLES_CLAIM = ("realm_access", "roles")   # where Keycloak puts realm roles
USERNAME_CLAIM = "preferred_username"


class ClaimsRefused(ValueError):
    """The token names no usable Marsad identity; `code` is stable for logs, tests and the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def group_path(policies: Policies, code: str) -> str:
    """The Keycloak group path of an institution or unit: what the realm must contain for `code`."""
    institution = policies.institution(code)
    parts = [INSTITUTIONS_GROUP, *([institution.parent] if institution.parent else []), code]
    return "/" + "/".join(parts)


def realm_roles(claims: Mapping[str, Any]) -> list[str]:
    node: Any = claims
    for key in ROLES_CLAIM:
        node = node.get(key) if isinstance(node, Mapping) else None
    return [r for r in node if isinstance(r, str)] if isinstance(node, list) else []


def institution_from_groups(claims: Mapping[str, Any], policies: Policies) -> str | None:
    """The institution or unit code named by the ``groups`` claim, None when it names none."""
    groups = claims.get(GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    prefix = f"/{INSTITUTIONS_GROUP}/"
    paths = sorted({g.rstrip("/") for g in groups if isinstance(g, str) and g.startswith(prefix)})
    if not paths:
        return None
    codes = []
    for path in paths:
        code = path.rsplit("/", 1)[-1]
        if code not in policies.institutions:
            raise ClaimsRefused("unknown_institution",
                                f"the group {path} names no institution of this observatory's policies")
        if group_path(policies, code) != path:
            raise ClaimsRefused("misplaced_group", f"the group {path} should be {group_path(policies, code)} "
                                                   "(units sit under their institution)")
        codes.append(code)
    if len(codes) > 1:
        raise ClaimsRefused("several_institutions",
                            f"the account belongs to several institutions ({', '.join(codes)}); "
                            "one account acts for one institution")
    return codes[0]


def principal_from_claims(claims: Mapping[str, Any], policies: Policies) -> Principal:
    """The Principal of verified Keycloak claims (signature, issuer, expiry checked by the caller)."""
    username = claims.get(USERNAME_CLAIM)
    if not isinstance(username, str) or not username.strip():
        raise ClaimsRefused("no_username", f"the token has no {USERNAME_CLAIM}")

    from_groups = institution_from_groups(claims, policies)
    from_claim = claims.get(INSTITUTION_CLAIM)
    if from_claim is not None and (not isinstance(from_claim, str) or from_claim not in policies.institutions):
        raise ClaimsRefused("unknown_institution",
                            f"the {INSTITUTION_CLAIM} claim {from_claim!r} names no institution of this "
                            "observatory's policies")
    if from_groups and from_claim and from_groups != from_claim:
        raise ClaimsRefused("conflicting_institution",
                            f"the {INSTITUTION_CLAIM} claim says {from_claim} but the groups say {from_groups}")
    institution = from_groups or from_claim
    if institution is None:
        groups = claims.get(GROUPS_CLAIM)
        hint = (" (the groups claim has no full paths: turn on 'Full group path' in the mapper)"
                if groups and not any(isinstance(g, str) and g.startswith("/") for g in groups) else "")
        raise ClaimsRefused("no_institution",
                            f"{username} is in no /{INSTITUTIONS_GROUP}/<code> group and the token has no "
                            f"{INSTITUTION_CLAIM} claim{hint}")

    roles = frozenset(realm_roles(claims)) & frozenset(policies.roles)
    if not roles:
        raise ClaimsRefused("no_role", f"{username} holds no Marsad role (realm roles: "
                                       f"{', '.join(sorted(realm_roles(claims))) or 'none'})")
    return Principal(username=username.strip(), institution=institution, roles=roles)
