"""The thin I/O layer between the realm plan and a live Keycloak, through python-keycloak.

`connect()` logs in to the admin API; `read_state(admin, realm)` reads what the plan compares
(a `RealmState`, or None when the realm does not exist); `apply(admin, realm, actions)` carries
out a plan's actions one by one. Every decision is taken in services.identity.plan; this module
only translates actions into Admin REST calls, so `sync` = read, plan, apply, and running it twice
changes nothing the second time.

Runs only against a real Keycloak (tests/test_identity_keycloak.py, when KEYCLOAK_URL is set).

Environment:
  KEYCLOAK_URL              e.g. https://kc.example.org (no /realms/...)
  KEYCLOAK_ADMIN_USER       an admin of the master realm (or of the target realm, see below)
  KEYCLOAK_ADMIN_PASSWORD
  KEYCLOAK_ADMIN_REALM      realm the admin user belongs to (default: master)
  KEYCLOAK_VERIFY           "false" to skip TLS verification (lab only), or a CA bundle path
"""
from __future__ import annotations

import os
from typing import Any

from services.identity.plan import Action
from services.identity.realm import BROWSER_FLOW, KEYCLOAK_BROWSER_FLOW, RealmState, is_managed

# Top-level realm fields read for the plan (the realm representation has many more).
_REALM_FIELDS_SKIPPED = {"roles", "groups", "clients", "users", "clientScopes", "authenticationFlows",
                         "authenticatorConfig", "requiredActions", "identityProviders", "components"}


class KeycloakSyncError(RuntimeError):
    pass


def connect(realm: str, environ=None):
    """A KeycloakAdmin logged in with the admin credentials of the environment, working on `realm`."""
    from keycloak import KeycloakAdmin

    env = os.environ if environ is None else environ
    url = env.get("KEYCLOAK_URL")
    if not url:
        raise KeycloakSyncError("KEYCLOAK_URL is not set")
    user, password = env.get("KEYCLOAK_ADMIN_USER"), env.get("KEYCLOAK_ADMIN_PASSWORD")
    if not user or not password:
        raise KeycloakSyncError("KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD must be set")
    verify: bool | str = env.get("KEYCLOAK_VERIFY", "true")
    verify = {"true": True, "false": False}.get(str(verify).lower(), verify)
    admin_realm = env.get("KEYCLOAK_ADMIN_REALM", "master")
    admin = KeycloakAdmin(server_url=url.rstrip("/") + "/", username=user, password=password,
                          realm_name=admin_realm, user_realm_name=admin_realm, verify=verify)
    admin.change_current_realm(realm)
    return admin


# --- reading ---------------------------------------------------------------------------------

_FULL = {"briefRepresentation": "false"}   # with attributes


def _read_groups(admin, groups: list[dict], out: dict[str, dict]) -> None:
    # Keycloak (23+) lists only one level at a time, and python-keycloak cannot ask for the whole
    # hierarchy with attributes (full_hierarchy and a query exclude each other): walk it here.
    for group in groups:
        out[group["path"]] = {k: v for k, v in group.items() if k != "subGroups"}
        # python-keycloak fetches the first level itself; Keycloak lists deeper ones as "subGroups": []
        # beside their real subGroupCount.
        children = group.get("subGroups") or []
        if len(children) < (group.get("subGroupCount") or 0):
            children = admin.get_group_children(group["id"], query=dict(_FULL))
        _read_groups(admin, children, out)


def _read_flow(admin, flow: dict) -> dict:
    executions = []
    for item in admin.get_authentication_flow_executions(flow["alias"]):
        config = None
        if item.get("authenticationConfig"):
            found = admin.get_authenticator_config(item["authenticationConfig"])
            config = {"alias": found.get("alias"), "config": found.get("config") or {}}
        subflow = bool(item.get("authenticationFlow"))
        executions.append({
            "level": item.get("level", 0),
            "kind": "flow" if subflow else "execution",
            "name": item.get("displayName") if subflow else item.get("providerId"),
            "requirement": item.get("requirement"),
            "config": config,
        })
    return {"alias": flow["alias"], "description": flow.get("description") or "", "executions": executions,
            "id": flow.get("id")}


def read_state(admin, realm: str, wanted_flows=(BROWSER_FLOW,)) -> RealmState | None:
    """The realm as the plan sees it; None when there is no such realm."""
    from keycloak.exceptions import KeycloakGetError

    try:
        rep = admin.get_realm(realm)
    except KeycloakGetError as exc:
        if getattr(exc, "response_code", None) == 404:
            return None
        raise
    settings = {k: v for k, v in rep.items() if k not in _REALM_FIELDS_SKIPPED}

    roles = {}
    for role in admin.get_realm_roles(brief_representation=False):
        if role.get("composite"):
            role["composites"] = {"realm": sorted(r["name"] for r in admin.get_composite_realm_roles_of_role(role["name"])
                                                  if not r.get("clientRole"))}
        roles[role["name"]] = role

    groups: dict[str, dict] = {}
    _read_groups(admin, admin.get_groups(query=dict(_FULL)), groups)

    clients = {}
    for client in admin.get_clients():
        client.setdefault("protocolMappers", [])
        clients[client["clientId"]] = client

    flows = {}
    for flow in admin.get_authentication_flows():
        if flow.get("topLevel") and (flow["alias"] in wanted_flows or is_managed("flow", flow)):
            flows[flow["alias"]] = _read_flow(admin, flow)
    return RealmState(settings=settings, roles=roles, groups=groups, clients=clients, flows=flows)


# --- applying --------------------------------------------------------------------------------

def _merged_attributes(current: dict | None, changes: dict) -> dict:
    # Keycloak replaces a role's or group's attributes with those sent: send them all.
    return {**(current or {}), **changes}


def _group_id(admin, path: str) -> str:
    found = admin.get_group_by_path(path)
    if not found or not found.get("id"):
        raise KeycloakSyncError(f"group {path} not found")
    return found["id"]


def _client_uuid(admin, client_id: str) -> str:
    uuid = admin.get_client_id(client_id)
    if not uuid:
        raise KeycloakSyncError(f"client {client_id} not found")
    return uuid


def _create_flow(admin, flow: dict) -> None:
    admin.create_authentication_flow({"alias": flow["alias"], "description": flow["description"],
                                      "providerId": "basic-flow", "topLevel": True, "builtIn": False})
    parents = {0: flow["alias"]}
    for step in flow["executions"]:
        parent = parents[step["level"]]
        if step["kind"] == "flow":
            admin.create_authentication_flow_subflow(
                {"alias": step["name"], "type": "basic-flow", "provider": "registration-page-form",
                 "description": f"{flow['alias']}: {step['name']}"}, parent)
            parents[step["level"] + 1] = step["name"]
        else:
            admin.create_authentication_flow_execution({"provider": step["name"]}, parent)
    # Keycloak adds executions DISABLED (or with the provider's default); set each requirement and
    # config now, matching Keycloak's listing with ours position by position.
    listed = admin.get_authentication_flow_executions(flow["alias"])
    if len(listed) != len(flow["executions"]):
        raise KeycloakSyncError(f"flow {flow['alias']}: {len(listed)} executions created, "
                                f"{len(flow['executions'])} expected")
    for step, item in zip(flow["executions"], listed):
        if item.get("requirement") != step["requirement"]:
            admin.update_authentication_flow_executions({"id": item["id"], "requirement": step["requirement"]},
                                                        flow["alias"])
        if step.get("config"):
            admin.create_execution_config(item["id"], step["config"])


def _delete_flow(admin, alias: str) -> None:
    for flow in admin.get_authentication_flows():
        if flow["alias"] == alias:
            admin.delete_authentication_flow(flow["id"])   # Keycloak removes its subflows with it
            return


def _apply_one(admin, realm: str, action: Action) -> None:
    op, kind, name = action.op, action.kind, action.name
    if kind == "realm":
        if op == "create":
            admin.create_realm(action.payload)
            admin.change_current_realm(realm)
        else:
            admin.update_realm(realm, action.changes)
    elif kind == "role":
        if op == "create":
            payload = {k: v for k, v in action.payload.items() if k not in ("composites", "composite")}
            admin.create_realm_role(payload)
            composites = (action.payload.get("composites") or {}).get("realm") or []
            if composites:
                admin.add_composite_realm_roles_to_role(name, [admin.get_realm_role(r) for r in composites])
        elif op == "update":
            current = admin.get_realm_role(name)
            changes = dict(action.changes)
            wanted = changes.pop("composites", None)
            if "attributes" in changes:
                changes["attributes"] = _merged_attributes(current.get("attributes"), changes["attributes"])
            fields = {k: v for k, v in changes.items() if k != "composite"}
            if fields:
                base = {"name": name, "description": current.get("description"),
                        "attributes": current.get("attributes") or {}}
                admin.update_realm_role(name, {**base, **fields})
            if wanted is not None:
                have = {r["name"] for r in admin.get_composite_realm_roles_of_role(name) if not r.get("clientRole")}
                want = set(wanted.get("realm") or [])
                if want - have:
                    admin.add_composite_realm_roles_to_role(name, [admin.get_realm_role(r) for r in sorted(want - have)])
                if have - want:
                    admin.remove_composite_realm_roles_to_role(name, [admin.get_realm_role(r) for r in sorted(have - want)])
        elif op == "delete":
            admin.delete_realm_role(name)
    elif kind == "group":
        if op == "create":
            parent_path = name.rsplit("/", 1)[0]
            parent = _group_id(admin, parent_path) if parent_path else None
            payload = {"name": action.payload["name"], "attributes": action.payload.get("attributes") or {}}
            admin.create_group(payload, parent=parent)
        elif op == "update":
            group_id = _group_id(admin, name)
            current = admin.get_group(group_id)
            changes = dict(action.changes)
            if "attributes" in changes:
                changes["attributes"] = _merged_attributes(current.get("attributes"), changes["attributes"])
            admin.update_group(group_id, {"name": current["name"], "attributes": current.get("attributes") or {},
                                          **changes})
        elif op == "delete":
            admin.delete_group(_group_id(admin, name))
    elif kind == "client":
        if op == "create":
            admin.create_client(action.payload)
        elif op == "update":
            uuid = _client_uuid(admin, name)
            current = admin.get_client(uuid)
            changes = dict(action.changes)
            if "attributes" in changes:
                changes["attributes"] = {**(current.get("attributes") or {}), **changes["attributes"]}
            current.pop("protocolMappers", None)   # mappers are planned one by one
            admin.update_client(uuid, {**current, **changes})
        elif op == "delete":
            admin.delete_client(_client_uuid(admin, name))
    elif kind == "mapper":
        client_id, mapper_name = name.split(" ", 1)
        uuid = _client_uuid(admin, client_id)
        existing = next((m for m in admin.get_mappers_from_client(uuid) if m.get("name") == mapper_name), None)
        if op in ("replace", "delete") and existing is not None:
            # Keycloak does not change a mapper's type in place; replacing is delete + create.
            admin.remove_client_mapper(uuid, existing["id"])
        if op in ("create", "replace"):
            admin.add_mapper_to_client(uuid, action.payload)
    elif kind == "flow":
        if op == "replace":
            # A bound flow cannot be deleted: bind Keycloak's own for the moment, then rebind.
            bound = admin.get_realm(realm).get("browserFlow")
            if bound == name:
                admin.update_realm(realm, {"browserFlow": KEYCLOAK_BROWSER_FLOW})
            _delete_flow(admin, name)
            _create_flow(admin, action.payload)
            if bound == name:
                admin.update_realm(realm, {"browserFlow": name})
        elif op == "create":
            _create_flow(admin, action.payload)
        elif op == "delete":
            _delete_flow(admin, name)
    else:
        raise KeycloakSyncError(f"unknown action kind {kind!r}")


def apply(admin, realm: str, actions: list[Action], echo=None) -> int:
    """Carry out `actions` in order; refuses a plan with conflicts. Returns how many were applied."""
    conflicts = [a for a in actions if a.op == "conflict"]
    if conflicts:
        raise KeycloakSyncError("the plan has conflicts; nothing was changed:\n" + "\n".join(map(str, conflicts)))
    for action in actions:
        if echo:
            echo(str(action))
        try:
            _apply_one(admin, realm, action)
        except Exception as exc:  # name the action that failed; what ran before stays applied
            raise KeycloakSyncError(f"{action}: {exc}") from exc
    return len(actions)


def client_secret(admin, client_id: str) -> str | None:
    """The secret Keycloak generated for a confidential client (for the portal's configuration)."""
    value: Any = admin.get_client_secrets(_client_uuid(admin, client_id))
    return value.get("value") if isinstance(value, dict) else None
