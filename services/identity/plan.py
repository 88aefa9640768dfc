"""What to do to a Keycloak realm so that it becomes the desired one: a pure, ordered plan.

`plan(desired, current)` compares two `RealmState`s (services.identity.realm) and returns the
`Action`s that `keycloak_sync.apply` carries out, in an order Keycloak accepts:

1. conflicts first, so an operator reads them before anything else (sync refuses to start while
   there is one): an object with a name Marsad needs that Marsad did not create;
2. the realm itself (created if absent), then its settings, each update naming only the fields
   that differ;
3. roles (those without composites first, so that composites can point at them), groups (parents
   before subgroups), clients and their protocol mappers, the browser flow, then the realm's
   browser-flow binding (only once the flow exists);
4. deletions last, and only of objects carrying Marsad's marker that the desired realm no longer
   has: mappers, clients, flows, groups (subgroups first), roles (after the clients that map them).

Fields Keycloak adds that the desired realm does not name (ids, defaults, other attributes) are
not compared: Marsad manages what it declares and leaves the rest to the realm's administrators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.identity.realm import (
    MANAGED_ATTRIBUTE, RealmState, is_managed, merged_password_policy, parse_password_policy,
)

# Fields compared as sets: Keycloak does not keep their order.
_UNORDERED = {"redirectUris", "webOrigins", "supportedLocales"}
# Fields compared on their own terms, not as plain values.
_SPECIAL = {"attributes", "protocolMappers", "composites", "passwordPolicy", "browserFlow"}


@dataclass(frozen=True)
class Action:
    op: str                       # "conflict" | "create" | "update" | "replace" | "delete"
    kind: str                     # "realm" | "role" | "group" | "client" | "mapper" | "flow"
    name: str                     # realm name, role name, group path, clientId, "clientId mapper", flow alias
    payload: Any = None           # create/replace: the full desired representation
    changes: Any = None           # update: field -> desired value (attributes: only the keys that differ)
    reason: str = ""              # conflict: why nothing is done

    def __str__(self) -> str:
        sign = {"conflict": "!", "create": "+", "update": "~", "replace": "±", "delete": "-"}[self.op]
        text = f"{sign} {self.kind} {self.name}"
        if self.op == "update" and self.changes:
            text += ": " + ", ".join(f"{k}={_short(v)}" for k, v in self.changes.items())
        if self.reason:
            text += f" ({self.reason})"
        return text

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _same(key: str, want: Any, have: Any) -> bool:
    if key in _UNORDERED:
        return sorted(want or []) == sorted(have or [])
    return want == have


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _attribute_changes(want: dict | None, have: dict | None, listed: bool) -> dict:
    """The desired attributes whose value differs (roles and groups hold lists, clients strings)."""
    have = have or {}
    out = {}
    for key, value in (want or {}).items():
        same = _as_list(value) == _as_list(have.get(key)) if listed else str(value) == str(have.get(key))
        if key not in have or not same:
            out[key] = value
    return out


def _field_changes(want: dict, have: dict, *, listed_attributes: bool) -> dict:
    changes = {k: v for k, v in want.items() if k not in _SPECIAL and not _same(k, v, have.get(k))}
    attributes = _attribute_changes(want.get("attributes"), have.get("attributes"), listed_attributes)
    if attributes:
        changes["attributes"] = attributes
    return changes


def _composites(rep: dict) -> list[str]:
    return sorted((rep.get("composites") or {}).get("realm") or [])


def _mapper_differs(want: dict, have: dict) -> bool:
    if want.get("protocolMapper") != have.get("protocolMapper") or want.get("protocol") != have.get("protocol"):
        return True
    have_config = have.get("config") or {}
    return any(str(have_config.get(k)) != str(v) for k, v in (want.get("config") or {}).items())


def _flow_differs(want: dict, have: dict) -> bool:
    return want.get("description") != have.get("description") or want.get("executions") != have.get("executions")


def _conflict(kind: str, name: str) -> Action:
    return Action("conflict", kind, name,
                  reason=f"exists but was not created by Marsad; rename or remove it, or mark it "
                         f"{MANAGED_ATTRIBUTE}=true to hand it over")


def plan(desired: RealmState, current: RealmState | None) -> list[Action]:
    """The ordered actions that turn `current` (None: no such realm) into `desired`."""
    realm = desired.settings["realm"]
    conflicts: list[Action] = []
    early: list[Action] = []
    deletions: list[Action] = []

    if current is None:
        payload = {k: v for k, v in desired.settings.items() if k != "browserFlow"}
        early.append(Action("create", "realm", realm, payload=payload))
        current = RealmState(settings=dict(payload))

    # --- realm settings (browserFlow waits for its flow, below)
    changes = {}
    for key, want in desired.settings.items():
        if key == "browserFlow":
            continue
        have = current.settings.get(key)
        if key == "passwordPolicy":
            merged = merged_password_policy(parse_password_policy(want), have)
            if parse_password_policy(merged) != parse_password_policy(have):
                changes[key] = merged
        elif not _same(key, want, have):
            changes[key] = want
    if changes:
        early.append(Action("update", "realm", realm, changes=changes))

    # --- roles: plain roles first, composites after the roles they contain
    for name, want in sorted(desired.roles.items(), key=lambda item: (bool(_composites(item[1])), item[0])):
        have = current.roles.get(name)
        if have is None:
            early.append(Action("create", "role", name, payload=want))
        elif not is_managed("role", have):
            conflicts.append(_conflict("role", name))
        else:
            changes = _field_changes(want, have, listed_attributes=True)
            if _composites(want) != _composites(have):
                changes["composites"] = {"realm": _composites(want)}
            if changes:
                early.append(Action("update", "role", name, changes=changes))

    # --- groups, parents first
    for path, want in sorted(desired.groups.items(), key=lambda item: (item[0].count("/"), item[0])):
        have = current.groups.get(path)
        if have is None:
            early.append(Action("create", "group", path, payload=want))
        elif not is_managed("group", have):
            conflicts.append(_conflict("group", path))
        else:
            changes = _field_changes(want, have, listed_attributes=True)
            if changes:
                early.append(Action("update", "group", path, changes=changes))

    # --- clients and their mappers
    for client_id, want in sorted(desired.clients.items()):
        have = current.clients.get(client_id)
        if have is None:
            early.append(Action("create", "client", client_id, payload=want))
            continue
        if not is_managed("client", have):
            conflicts.append(_conflict("client", client_id))
            continue
        changes = _field_changes(want, have, listed_attributes=False)
        if changes:
            early.append(Action("update", "client", client_id, changes=changes))
        have_mappers = {m.get("name"): m for m in have.get("protocolMappers") or []}
        want_mappers = {m["name"]: m for m in want.get("protocolMappers") or []}
        for name, mapper in want_mappers.items():
            existing = have_mappers.get(name)
            if existing is None:
                early.append(Action("create", "mapper", f"{client_id} {name}", payload=mapper))
            elif _mapper_differs(mapper, existing):
                early.append(Action("replace", "mapper", f"{client_id} {name}", payload=mapper))
        for name, mapper in sorted(have_mappers.items()):
            if name not in want_mappers and is_managed("mapper", mapper):
                deletions.append(Action("delete", "mapper", f"{client_id} {name}"))

    # --- the browser flow, then its binding
    blocked_flows = set()
    for alias, want in sorted(desired.flows.items()):
        have = current.flows.get(alias)
        if have is None:
            early.append(Action("create", "flow", alias, payload=want))
        elif not is_managed("flow", have):
            conflicts.append(_conflict("flow", alias))
            blocked_flows.add(alias)
        elif _flow_differs(want, have):
            early.append(Action("replace", "flow", alias, payload=want))
    want_binding = desired.settings.get("browserFlow")
    if (want_binding and want_binding not in blocked_flows
            and want_binding != current.settings.get("browserFlow")):
        early.append(Action("update", "realm", realm, changes={"browserFlow": want_binding}))

    # --- deletions: only Marsad's, only what is no longer desired
    for client_id, have in sorted(current.clients.items()):
        if client_id not in desired.clients and is_managed("client", have):
            deletions.append(Action("delete", "client", client_id))
    for alias, have in sorted(current.flows.items()):
        if alias not in desired.flows and is_managed("flow", have):
            deletions.append(Action("delete", "flow", alias))
    for path, have in sorted(current.groups.items(), key=lambda item: (-item[0].count("/"), item[0])):
        if path in desired.groups or not is_managed("group", have):
            continue
        foreign = sorted(p for p, g in current.groups.items()
                         if p.startswith(path + "/") and not is_managed("group", g))
        if foreign:
            # Keycloak deletes a group with its subgroups; these are not Marsad's to delete.
            conflicts.append(Action("conflict", "group", path,
                                    reason=f"no longer desired, but holds groups Marsad did not create: "
                                           f"{', '.join(foreign)}"))
        else:
            deletions.append(Action("delete", "group", path))
    for name, have in sorted(current.roles.items()):
        if name not in desired.roles and is_managed("role", have):
            deletions.append(Action("delete", "role", name))

    return conflicts + early + deletions
