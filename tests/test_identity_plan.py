"""The realm plan against many realm states given as data.

`InMemoryRealmModel` below is this test's model of what applying an action does to a realm, used
ONLY to check properties of plans (idempotence, ordering): it is not a fake Keycloak server, and
nothing outside this file uses it. It is strict where Keycloak is (a subgroup needs its parent, a
composite or mapper its role, a bound flow cannot be deleted), so an ill-ordered plan fails here.
"""
from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from services.identity.plan import Action, plan
from services.identity.realm import (
    BROWSER_FLOW, MANAGED_ATTRIBUTE, OTP_ROLE, RealmSettings, RealmState, desired_realm, is_managed,
    parse_password_policy,
)
from services.policy import POLICIES_DIR, load_policies

REALM = "marsad"


class InMemoryRealmModel:
    """The test's model of a Keycloak realm receiving a plan's actions (see the module docstring)."""

    KEYCLOAK_DEFAULT_ROLES = ("offline_access", "uma_authorization", f"default-roles-{REALM}")
    KEYCLOAK_DEFAULT_CLIENTS = ("account", "account-console", "admin-cli", "broker", "realm-management",
                                "security-admin-console")

    def __init__(self, state: RealmState | None):
        self.state = copy.deepcopy(state)

    @classmethod
    def fresh_keycloak_realm(cls) -> RealmState:
        """What Keycloak holds right after an administrator creates an empty realm by hand."""
        return RealmState(
            settings={"realm": REALM, "enabled": True, "passwordPolicy": None, "bruteForceProtected": False,
                      "failureFactor": 30, "ssoSessionIdleTimeout": 1800, "ssoSessionMaxLifespan": 36000,
                      "browserFlow": "browser", "sslRequired": "external"},
            roles={r: {"name": r, "description": "${role_" + r + "}", "composite": False, "attributes": {}}
                   for r in cls.KEYCLOAK_DEFAULT_ROLES},
            clients={c: {"clientId": c, "enabled": True, "attributes": {}, "protocolMappers": []}
                     for c in cls.KEYCLOAK_DEFAULT_CLIENTS},
            flows={"browser": {"alias": "browser", "description": "browser based authentication",
                               "executions": [{"level": 0, "kind": "execution", "name": "auth-cookie",
                                               "requirement": "ALTERNATIVE", "config": None}]}},
        )

    def apply(self, actions: list[Action]) -> RealmState:
        for action in actions:
            assert action.op != "conflict", f"a plan with conflicts is not applied: {action}"
            getattr(self, f"_{action.kind}")(action)
        return self.state

    def _realm(self, a: Action) -> None:
        if a.op == "create":
            assert self.state is None, "realm exists"
            self.state = self.fresh_keycloak_realm()
            self.state.settings.update(copy.deepcopy(a.payload))
            return
        assert self.state is not None, "no realm"
        flow = a.changes.get("browserFlow")
        assert flow is None or flow in self.state.flows, f"binding missing flow {flow}"
        self.state.settings.update(copy.deepcopy(a.changes))

    def _roles_referenced(self) -> set[str]:
        out = set()
        for role in self.state.roles.values():
            out |= set((role.get("composites") or {}).get("realm") or [])
        for client in self.state.clients.values():
            out |= {m["config"]["role"] for m in client.get("protocolMappers") or []
                    if m.get("protocolMapper") == "oidc-hardcoded-role-mapper"}
        for flow in self.state.flows.values():
            out |= {(s.get("config") or {}).get("config", {}).get("condUserRole") for s in flow["executions"]} - {None}
        return out

    def _role(self, a: Action) -> None:
        roles = self.state.roles
        if a.op == "create":
            assert a.name not in roles
            for child in (a.payload.get("composites") or {}).get("realm") or []:
                assert child in roles, f"composite {a.name} before its role {child}"
            roles[a.name] = copy.deepcopy(a.payload)
        elif a.op == "update":
            role = roles[a.name]
            for key, value in a.changes.items():
                if key == "attributes":
                    role["attributes"] = {**(role.get("attributes") or {}), **copy.deepcopy(value)}
                elif key == "composites":
                    assert all(child in roles for child in value["realm"])
                    role["composites"], role["composite"] = copy.deepcopy(value), bool(value["realm"])
                else:
                    role[key] = copy.deepcopy(value)
        else:
            del roles[a.name]
            assert a.name not in self._roles_referenced(), f"role {a.name} deleted while still used"

    def _group(self, a: Action) -> None:
        groups = self.state.groups
        if a.op == "create":
            parent = a.name.rsplit("/", 1)[0]
            assert not parent or parent in groups, f"subgroup {a.name} before its parent"
            assert a.name not in groups
            groups[a.name] = copy.deepcopy(a.payload)
        elif a.op == "update":
            group = groups[a.name]
            for key, value in a.changes.items():
                if key == "attributes":
                    group["attributes"] = {**(group.get("attributes") or {}), **copy.deepcopy(value)}
                else:
                    group[key] = copy.deepcopy(value)
        else:
            for path in [p for p in groups if p == a.name or p.startswith(a.name + "/")]:
                del groups[path]        # Keycloak deletes subgroups with their group

    def _client(self, a: Action) -> None:
        clients = self.state.clients
        if a.op == "create":
            assert a.name not in clients
            client = copy.deepcopy(a.payload)
            # Keycloak fills in attributes of its own; the plan must not fight them.
            client["attributes"] = {"backchannel.logout.session.required": "true", **client["attributes"]}
            client["secret"] = "generated"
            clients[a.name] = client
            for mapper in client["protocolMappers"]:
                if mapper["protocolMapper"] == "oidc-hardcoded-role-mapper":
                    assert mapper["config"]["role"] in self.state.roles, "client before the role it maps"
        elif a.op == "update":
            client = clients[a.name]
            for key, value in a.changes.items():
                if key == "attributes":
                    client["attributes"] = {**client["attributes"], **copy.deepcopy(value)}
                else:
                    client[key] = copy.deepcopy(value)
        else:
            del clients[a.name]

    def _mapper(self, a: Action) -> None:
        client_id, name = a.name.split(" ", 1)
        mappers = self.state.clients[client_id]["protocolMappers"]
        existing = [m for m in mappers if m["name"] == name]
        if a.op == "create":
            assert not existing
        else:
            assert existing, f"no mapper {a.name}"
            mappers.remove(existing[0])
        if a.op in ("create", "replace"):
            if a.payload["protocolMapper"] == "oidc-hardcoded-role-mapper":
                assert a.payload["config"]["role"] in self.state.roles
            mappers.append(copy.deepcopy(a.payload))

    def _flow(self, a: Action) -> None:
        flows = self.state.flows
        if a.op == "create":
            assert a.name not in flows
        else:
            assert a.name in flows
        if a.op == "delete":
            assert self.state.settings.get("browserFlow") != a.name, "deleting the bound browser flow"
            del flows[a.name]
        else:
            for step in a.payload["executions"]:
                role = ((step.get("config") or {}).get("config") or {}).get("condUserRole")
                assert role is None or role in self.state.roles, "flow before the role it tests"
            flows[a.name] = copy.deepcopy(a.payload)


def applied(desired: RealmState, current: RealmState | None) -> RealmState:
    return InMemoryRealmModel(current).apply(plan(desired, current))


def ops(actions) -> list[tuple[str, str, str]]:
    return [(a.op, a.kind, a.name) for a in actions]


@pytest.fixture(scope="module")
def policies():
    return load_policies()


@pytest.fixture(scope="module")
def desired(policies):
    return desired_realm(policies, RealmSettings(portal_urls=("https://marsad.example.tn",)))


@pytest.fixture
def synced(desired) -> RealmState:
    return applied(desired, None)


# --- states --------------------------------------------------------------------------------------

def test_empty_keycloak_creates_the_realm_first_and_everything_in_order(desired):
    actions = plan(desired, None)
    assert actions[0].op == "create" and actions[0].kind == "realm"
    assert "browserFlow" not in actions[0].payload       # bound once the flow exists
    assert all(a.op == "create" for a in actions[:-1])
    assert ops(actions)[-1] == ("update", "realm", REALM) and actions[-1].changes == {"browserFlow": BROWSER_FLOW}
    names = ops(actions)
    index = {n: i for i, n in enumerate(names)}
    # roles before the clients, composites and flow that name them
    assert index[("create", "role", "submitter")] < index[("create", "client", "marsad-api-mi-paf")]
    assert index[("create", "role", OTP_ROLE)] < index[("create", "role", "admin")]
    assert index[("create", "role", OTP_ROLE)] < index[("create", "flow", BROWSER_FLOW)]
    # groups: parent first
    assert index[("create", "group", "/institutions")] < index[("create", "group", "/institutions/MI")] \
        < index[("create", "group", "/institutions/MI/MI-PAF")]


def test_a_realm_made_by_hand_gets_everything_and_keeps_keycloaks_own_objects(desired):
    fresh = InMemoryRealmModel.fresh_keycloak_realm()
    actions = plan(desired, fresh)
    assert ("create", "realm", REALM) not in ops(actions)
    assert not [a for a in actions if a.op in ("delete", "conflict")]
    update = next(a for a in actions if a.kind == "realm")
    assert set(update.changes) >= {"passwordPolicy", "bruteForceProtected", "failureFactor"}
    result = InMemoryRealmModel(fresh).apply(actions)
    for client in InMemoryRealmModel.KEYCLOAK_DEFAULT_CLIENTS:
        assert client in result.clients
    for role in InMemoryRealmModel.KEYCLOAK_DEFAULT_ROLES:
        assert role in result.roles
    assert "browser" in result.flows
    assert plan(desired, result) == []


def test_in_sync_means_an_empty_plan(desired, synced):
    assert plan(desired, synced) == []


def test_drift_is_repaired_with_minimal_updates(desired, synced):
    drifted = copy.deepcopy(synced)
    drifted.clients["marsad-portal"]["redirectUris"] = ["https://evil.example/*"]
    drifted.clients["marsad-portal"]["attributes"]["pkce.code.challenge.method"] = "plain"
    drifted.clients["marsad-api-ins"]["protocolMappers"] = [
        m for m in drifted.clients["marsad-api-ins"]["protocolMappers"] if m["name"] != "marsad-audience"]
    drifted.settings["passwordPolicy"] = "length(8)"
    drifted.settings["bruteForceProtected"] = False
    drifted.roles["analyst"]["description"] = "changed by hand"
    drifted.groups["/institutions/INS"]["attributes"].pop("marsad.name.fr")

    actions = plan(desired, drifted)
    by_name = {(a.kind, a.name): a for a in actions}
    assert len(actions) == 5, [str(a) for a in actions]
    realm = by_name[("realm", REALM)]
    assert set(realm.changes) == {"passwordPolicy", "bruteForceProtected"}
    assert parse_password_policy(realm.changes["passwordPolicy"])["length"] == "12"
    portal = by_name[("client", "marsad-portal")]
    assert portal.op == "update"
    assert portal.changes == {"redirectUris": ["https://marsad.example.tn/login/keycloak/callback"],
                              "attributes": {"pkce.code.challenge.method": "S256"}}
    assert by_name[("mapper", "marsad-api-ins marsad-audience")].op == "create"
    assert by_name[("role", "analyst")].changes == {"description": desired.roles["analyst"]["description"]}
    assert by_name[("group", "/institutions/INS")].changes == {
        "attributes": {"marsad.name.fr": ["Institut National de la Statistique"]}}
    assert plan(desired, InMemoryRealmModel(drifted).apply(actions)) == []


def test_a_stricter_rule_added_by_administrators_is_kept(desired, synced):
    stricter = copy.deepcopy(synced)
    stricter.settings["passwordPolicy"] += " and specialChars(1)"
    assert plan(desired, stricter) == []
    weakened = copy.deepcopy(stricter)
    weakened.settings["passwordPolicy"] = weakened.settings["passwordPolicy"].replace("length(12)", "length(6)")
    (action,) = plan(desired, weakened)
    policy = parse_password_policy(action.changes["passwordPolicy"])
    assert policy["length"] == "12" and policy["specialChars"] == "1"


def test_a_changed_mapper_is_replaced(desired, synced):
    drifted = copy.deepcopy(synced)
    mapper = next(m for m in drifted.clients["marsad-portal"]["protocolMappers"] if m["name"] == "marsad-groups")
    mapper["config"]["full.path"] = "false"
    (action,) = plan(desired, drifted)
    assert ops([action]) == [("replace", "mapper", "marsad-portal marsad-groups")]
    assert plan(desired, InMemoryRealmModel(drifted).apply([action])) == []


def test_foreign_objects_are_left_alone(desired, synced):
    foreign = copy.deepcopy(synced)
    foreign.groups["/helpdesk"] = {"name": "helpdesk", "path": "/helpdesk", "attributes": {}}
    foreign.groups["/institutions/MI/cabinet"] = {"name": "cabinet", "path": "/institutions/MI/cabinet"}
    foreign.clients["grafana"] = {"clientId": "grafana", "attributes": {}, "protocolMappers": []}
    foreign.roles["helpdesk"] = {"name": "helpdesk", "attributes": {"owner": ["it"]}}
    foreign.flows["my browser"] = {"alias": "my browser", "description": "by hand", "executions": []}
    foreign.clients["marsad-portal"]["protocolMappers"].append(
        {"name": "locale", "protocol": "openid-connect", "protocolMapper": "oidc-usermodel-attribute-mapper",
         "config": {"user.attribute": "locale"}})
    foreign.clients["marsad-portal"]["attributes"]["display.on.consent.screen"] = "false"
    assert plan(desired, foreign) == []


def test_objects_with_marsads_names_but_not_its_marker_are_conflicts(desired, synced):
    taken = copy.deepcopy(synced)
    taken.clients["marsad-portal"]["attributes"].pop(MANAGED_ATTRIBUTE)
    taken.clients["marsad-portal"]["redirectUris"] = ["https://elsewhere/*"]
    taken.roles["admin"]["attributes"] = {}
    taken.flows[BROWSER_FLOW]["description"] = "someone else's"
    taken.settings["browserFlow"] = "browser"
    actions = plan(desired, taken)
    assert ops(actions) == [("conflict", "role", "admin"), ("conflict", "client", "marsad-portal"),
                            ("conflict", "flow", BROWSER_FLOW)]
    # Not bound to a flow Marsad does not own, and the foreign client's URIs are not touched.
    assert all(a.op == "conflict" for a in actions)
    with pytest.raises(AssertionError):
        InMemoryRealmModel(taken).apply(actions)


def _policies_without(tmp_path, *, role: str | None = None, institution: str | None = None):
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, folder)
    roles = yaml.safe_load((folder / "roles.yaml").read_text(encoding="utf-8"))
    agreements = yaml.safe_load((folder / "agreements.yaml").read_text(encoding="utf-8"))
    institutions = yaml.safe_load((folder / "institutions.yaml").read_text(encoding="utf-8"))
    if role:
        roles["roles"] = [r for r in roles["roles"] if r["code"] != role]
        for agreement in agreements["agreements"].values():
            agreement["roles"] = [r for r in agreement["roles"] if r != role]
    if institution:
        institutions["institutions"] = [i for i in institutions["institutions"] if i["code"] != institution]
        agreements["agreements"].pop(institution)
    for name, data in (("roles", roles), ("agreements", agreements), ("institutions", institutions)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_policies(folder)


def test_a_role_removed_from_policy_is_deleted_last(tmp_path, synced):
    smaller = desired_realm(_policies_without(tmp_path, role="auditor"),
                            RealmSettings(portal_urls=("https://marsad.example.tn",)))
    actions = plan(smaller, synced)
    assert ops(actions) == [("delete", "role", "auditor")]
    assert plan(smaller, InMemoryRealmModel(synced).apply(actions)) == []


def test_an_institution_removed_from_policy_loses_its_client_then_its_group(tmp_path, synced):
    smaller = desired_realm(_policies_without(tmp_path, institution="UNHCR"),
                            RealmSettings(portal_urls=("https://marsad.example.tn",)))
    actions = plan(smaller, synced)
    assert ops(actions) == [("delete", "client", "marsad-api-unhcr"), ("delete", "group", "/institutions/UNHCR")]
    assert plan(smaller, InMemoryRealmModel(synced).apply(actions)) == []


def test_a_managed_group_holding_foreign_subgroups_is_not_deleted(tmp_path, synced):
    synced.groups["/institutions/UNHCR/geneva"] = {"name": "geneva", "path": "/institutions/UNHCR/geneva"}
    smaller = desired_realm(_policies_without(tmp_path, institution="UNHCR"),
                            RealmSettings(portal_urls=("https://marsad.example.tn",)))
    actions = plan(smaller, synced)
    assert ops(actions)[0] == ("conflict", "group", "/institutions/UNHCR")
    assert "/institutions/UNHCR/geneva" in actions[0].reason
    assert ("delete", "group", "/institutions/UNHCR") not in ops(actions)


def test_turning_otp_off_rebinds_before_deleting_the_flow_and_the_role(policies, synced):
    no_otp = desired_realm(policies, RealmSettings(portal_urls=("https://marsad.example.tn",), otp_roles=()))
    actions = plan(no_otp, synced)
    assert ops(actions) == [("update", "role", "admin"), ("update", "role", "focal_point"),
                            ("update", "realm", REALM), ("delete", "flow", BROWSER_FLOW),
                            ("delete", "role", OTP_ROLE)]
    assert actions[0].changes == {"composite": False, "composites": {"realm": []}}
    assert actions[2].changes == {"browserFlow": "browser"}
    assert plan(no_otp, InMemoryRealmModel(synced).apply(actions)) == []


def test_a_changed_flow_is_replaced_and_stays_bound(desired, synced):
    drifted = copy.deepcopy(synced)
    drifted.flows[BROWSER_FLOW]["executions"][5]["requirement"] = "DISABLED"   # the OTP form, by hand
    actions = plan(desired, drifted)
    assert ops(actions) == [("replace", "flow", BROWSER_FLOW)]
    assert plan(desired, InMemoryRealmModel(drifted).apply(actions)) == []


def test_a_new_portal_url_updates_redirects_and_logout_uris(policies, synced):
    wider = desired_realm(policies, RealmSettings(portal_urls=("https://marsad.example.tn", "https://onm.tn")))
    (action,) = plan(wider, synced)
    assert set(action.changes) == {"redirectUris", "attributes"}
    assert action.changes["attributes"] == {
        "post.logout.redirect.uris": "https://marsad.example.tn/login##https://onm.tn/login"}


# --- properties over every state above --------------------------------------------------------------

def _states(desired, synced) -> dict[str, RealmState | None]:
    drifted = copy.deepcopy(synced)
    drifted.clients["marsad-portal"]["redirectUris"] = []
    drifted.clients.pop("marsad-api-mae")
    drifted.groups.pop("/institutions/MI/MI-GN")
    drifted.roles["admin"]["composites"] = {"realm": []}
    drifted.flows.pop(BROWSER_FLOW)
    drifted.settings["browserFlow"] = "browser"
    drifted.settings["ssoSessionMaxLifespan"] = 10 ** 7
    stale = copy.deepcopy(synced)
    stale.roles["retired_role"] = {"name": "retired_role", "attributes": {MANAGED_ATTRIBUTE: ["true"]}}
    stale.clients["marsad-api-old"] = {"clientId": "marsad-api-old", "attributes": {MANAGED_ATTRIBUTE: "true"},
                                       "protocolMappers": [{"name": "marsad-role-retired", "protocolMapper":
                                                            "oidc-hardcoded-role-mapper",
                                                            "config": {"role": "retired_role"}}]}
    stale.groups["/institutions/OLD"] = {"name": "OLD", "path": "/institutions/OLD",
                                         "attributes": {MANAGED_ATTRIBUTE: ["true"]}}
    stale.groups["/institutions/OLD/UNIT"] = {"name": "UNIT", "path": "/institutions/OLD/UNIT",
                                              "attributes": {MANAGED_ATTRIBUTE: ["true"]}}
    stale.clients["marsad-portal"]["protocolMappers"].append(
        {"name": "marsad-obsolete", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
         "config": {"claim.name": "x", "claim.value": "y"}})
    return {"empty": None, "fresh": InMemoryRealmModel.fresh_keycloak_realm(), "synced": synced,
            "drifted": drifted, "stale": stale}


@pytest.mark.parametrize("name", ["empty", "fresh", "synced", "drifted", "stale"])
def test_plan_is_idempotent(name, desired, synced):
    state = _states(desired, synced)[name]
    first = plan(desired, state)
    after = InMemoryRealmModel(state).apply(first)
    assert plan(desired, after) == []


@pytest.mark.parametrize("name", ["empty", "fresh", "synced", "drifted", "stale"])
def test_deletions_come_last_and_touch_only_marsads_objects(name, desired, synced):
    state = _states(desired, synced)[name]
    actions = plan(desired, state)
    kinds = [a.op == "delete" for a in actions]
    assert kinds == sorted(kinds), "a deletion before a creation or update"
    for action in actions:
        if action.op == "delete" and action.kind != "mapper":
            collection = {"role": state.roles, "group": state.groups, "client": state.clients,
                          "flow": state.flows}[action.kind]
            assert is_managed(action.kind, collection[action.name])


def test_stale_objects_are_deleted_in_a_keycloak_friendly_order(desired, synced):
    actions = plan(desired, _states(desired, synced)["stale"])
    assert ops(actions) == [
        ("delete", "mapper", "marsad-portal marsad-obsolete"),
        ("delete", "client", "marsad-api-old"),
        ("delete", "group", "/institutions/OLD/UNIT"),
        ("delete", "group", "/institutions/OLD"),
        ("delete", "role", "retired_role"),
    ]


def test_actions_read_as_a_plan():
    assert str(Action("create", "role", "submitter")) == "+ role submitter"
    assert str(Action("update", "realm", "marsad", changes={"failureFactor": 5})) == "~ realm marsad: failureFactor=5"
    assert str(Action("delete", "group", "/institutions/X")) == "- group /institutions/X"
    assert str(Action("conflict", "client", "c", reason="why")) == "! client c (why)"
