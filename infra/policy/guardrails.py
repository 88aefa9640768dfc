"""Marsad's guardrails: what no Pulumi stack of this project may contain, whoever wrote it.

Three rules, each a pure function of (resource type, properties) returning violation messages,
so that the tests call them directly and `__main__.py` only wraps them for CrossGuard:

* machine-has-backup-disk: every machine has a disk of its own for backups: a copy kept on
  the system or data disk dies with it.
* bucket-not-anonymously-readable: no bucket grants reads to anonymous (or "any
  authenticated AWS account") users, whether by canned ACL, ACL grant or bucket policy.
  Partner institutions' raw files are personal data.
* tls-on-every-endpoint: every endpoint a resource or output names is reached over TLS, with
  certificate verification on, TLS 1.2 at least.

Properties come from the policy SDK as read-only Mapping/Sequence proxies (not dict/list) that
raise UnknownValueError on values a preview cannot know yet; the walkers here skip those values
(they are judged at `pulumi up`) instead of letting one unknown silence a whole rule.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

try:  # the proxies' exception; absent when the checks run on plain data without the SDK
    from pulumi_policy.proxy import UnknownValueError
except ImportError:  # pragma: no cover
    class UnknownValueError(Exception):  # type: ignore[no-redef]
        pass

# --- machines ---------------------------------------------------------------------------------

# Resource types that are machines, and how to read their disks. Proxmox VE disks carry no label,
# so the infra program sets each disk's serial to `marsad-<purpose>`: the guest then finds its
# backup disk as /dev/disk/by-id/*marsad-backup, and this rule can recognise it.
PROXMOX_VM = "proxmoxve:index/vmLegacy:VmLegacy"
PROXMOX_VM_NEW = "proxmoxve:index/vm:Vm"          # the newer resource has no disks argument at all
BARE_METAL_SERVER = "marsad:infra:BareMetalServer"
DISK_SERIAL_PREFIX = "marsad-"
BACKUP = "backup"
BACKUP_SERIAL = re.compile(rf"^{DISK_SERIAL_PREFIX}{BACKUP}\d*$")   # marsad-backup, marsad-backup1...


class _Unknown:
    """A value a preview cannot know yet: given the benefit of the doubt, judged at `pulumi up`."""

    def __str__(self) -> str:
        return "(known at pulumi up)"


UNKNOWN = _Unknown()


def _get(mapping: Any, key: str, default: Any = None) -> Any:
    """mapping[key]; default when absent or mapping is no mapping; UNKNOWN when a preview cannot know it."""
    if not isinstance(mapping, Mapping):
        return default
    try:
        return mapping[key] if key in mapping else default
    except UnknownValueError:
        return UNKNOWN


def _items(value: Any) -> list:
    """The known elements of a Sequence (strings are no sequence of elements here)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return []
    out = []
    for index in range(len(value)):
        try:
            out.append(value[index])
        except UnknownValueError:
            continue
    return out


def _positive(size: Any) -> bool:
    if size is UNKNOWN:
        return True
    try:
        return float(size) > 0
    except (TypeError, ValueError):
        return False


def machine_backup_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Why this machine breaks the backup-disk rule ([] when it keeps it, or is no machine)."""
    if _get(props, "disks") is UNKNOWN:
        return []
    if resource_type in (PROXMOX_VM, PROXMOX_VM_NEW):
        disks = _items(_get(props, "disks"))
        backup = [d for d in disks if BACKUP_SERIAL.match(str(_get(d, "serial") or ""))]
        if not backup:
            return [f"virtual machine has no backup disk: add a disk with serial '{DISK_SERIAL_PREFIX}{BACKUP}' "
                    "(a server's disk of purpose 'backup' in hardware/ becomes one)"]
        if not any(_positive(_get(d, "size")) for d in backup):
            return ["virtual machine's backup disk has no size"]
        if len(disks) < 2:
            return ["virtual machine's backup disk is its only disk: the system needs a disk of its own"]
        return []
    if resource_type == BARE_METAL_SERVER:
        disks = _items(_get(props, "disks"))
        backup = [d for d in disks if _get(d, "purpose") == BACKUP]
        name = _get(props, "name", "server")
        if not backup:
            return [f"{name} has no backup disk: declare a disk of purpose 'backup' in hardware/"]
        if not any(_positive(_get(d, "size_gb")) for d in backup):
            return [f"{name}'s backup disk has no size"]
        return []
    return []


# --- buckets ----------------------------------------------------------------------------------

# Canned ACLs that let someone without credentials of this deployment read. "authenticated-read"
# counts: on AWS it means any AWS account at all, which is anonymous for our purposes.
ANONYMOUS_READ_ACLS = frozenset({"public-read", "public-read-write", "public", "authenticated-read"})
ANONYMOUS_GRANTEES = ("/global/AllUsers", "/global/AuthenticatedUsers")
READ_PERMISSIONS = frozenset({"READ", "FULL_CONTROL"})
# What "reading a bucket" means, matched against a statement's actions (which may use wildcards).
READ_ACTIONS = ("s3:GetObject", "s3:ListBucket")


def is_bucket(resource_type: str) -> bool:
    """aws:s3/bucketV2:BucketV2, aws:s3/bucketPolicy:BucketPolicy, minio:index/s3Bucket:S3Bucket..."""
    return "bucket" in resource_type.rsplit(":", 1)[-1].lower()


def _as_list(value: Any) -> list:
    if isinstance(value, str):
        return [value]
    return _items(value)


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(_get(principal, key)) for key in principal)
    return False


def _matches(pattern: Any, action: str) -> bool:
    """IAM action matching: case-insensitive, * and ? wildcards."""
    return isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _reads(actions: list[str]) -> bool:
    return any(_matches(pattern, wanted) for pattern in actions for wanted in READ_ACTIONS)


def anonymous_read_statements(policy: Any) -> list[str]:
    """The statements of an S3 bucket policy (JSON text or mapping) letting anyone read.

    Conditions are not trusted to narrow "anyone" (a source-IP condition still lets every
    person behind that address in); a reviewer who wants such a statement names the principals.
    """
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return ["bucket policy is not valid JSON, so it cannot be checked"]
    statements = _get(policy, "Statement")
    statements = [statements] if isinstance(statements, Mapping) else _items(statements)
    found = []
    for index, statement in enumerate(statements):
        if _get(statement, "Effect") != "Allow":
            continue
        sid = _get(statement, "Sid") or f"Statement[{index}]"
        everyone = _is_everyone(_get(statement, "Principal")) or _get(statement, "NotPrincipal") is not None
        if not everyone:
            continue
        if _get(statement, "NotAction") is not None:
            # Allow everything except these: it reads unless both read actions are excluded.
            excluded = _as_list(_get(statement, "NotAction"))
            reads = not all(any(_matches(p, wanted) for p in excluded) for wanted in READ_ACTIONS)
        else:
            reads = _reads(_as_list(_get(statement, "Action")))
        if reads:
            found.append(f"bucket policy {sid} lets anyone read")
    return found


def _anonymous_grants(value: Any, path: str = "") -> Iterator[str]:
    """ACL grants (aws Bucket `grants`, BucketAclV2 `accessControlPolicy`) to everyone, anywhere in value."""
    if isinstance(value, Mapping):
        grantee = _get(value, "grantee", value)
        uri = _get(grantee, "uri") or ""
        permissions = _as_list(_get(value, "permissions")) + _as_list(_get(value, "permission"))
        granted = {p.upper() for p in permissions if isinstance(p, str)}
        if uri.endswith(ANONYMOUS_GRANTEES) and granted & READ_PERMISSIONS:
            yield f"ACL grant at {path or '.'} gives {uri.rsplit('/', 1)[-1]} read access"
        for key in value:
            yield from _anonymous_grants(_get(value, key), f"{path}.{key}")
    else:
        for index, item in enumerate(_items(value)):
            yield from _anonymous_grants(item, f"{path}[{index}]")


def bucket_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Why this bucket (or bucket ACL/policy resource) is readable by anonymous users."""
    if not is_bucket(resource_type):
        return []
    found = []
    acl = _get(props, "acl")
    if isinstance(acl, str) and acl.lower() in ANONYMOUS_READ_ACLS:
        found.append(f"canned ACL {acl!r} lets anonymous users read")
    found.extend(_anonymous_grants({k: _get(props, k) for k in ("grants", "accessControlPolicy")}))
    policy = _get(props, "policy")
    if policy:
        found.extend(anonymous_read_statements(policy))
    return found


# --- TLS --------------------------------------------------------------------------------------

# Keys whose values are endpoints: s3Endpoint, marsad_portal_url, oidc_issuer, endpoints...
ENDPOINT_KEY = re.compile(r"(endpoint|url|issuer)s?$")
PLAINTEXT_SCHEMES = frozenset({"http", "ws", "ftp", "ldap", "redis", "amqp", "mqtt", "nats"})
POSTGRES_SCHEMES = re.compile(r"^postgres(ql)?(\+\w+)?$")
POSTGRES_TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})
# Switches: a true `insecure` (skip certificate verification) or a false `secure`/`tls`/`ssl`.
UNVERIFIED_KEYS = frozenset({"insecure", "skiptlsverify", "tlsskipverify", "insecureskipverify", "sslnoverify"})
TLS_ON_KEYS = re.compile(r"(^|[^n])secure$|^(use|enable)?(tls|ssl)(enabled)?$")
MIN_TLS_KEYS = frozenset({"mintls", "tlsminversion", "minimumtlsversion", "mintlsversion"})
# apt checks the signatures of what a mirror serves, and a forward proxy carries TLS tunnels
# end to end (CONNECT), so plain HTTP to either is no exposure. Configurable per stack.
DEFAULT_PLAINTEXT_ALLOWED = ("mirror", "proxy")


def _normal(key: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def _loopback(host: str | None) -> bool:
    # gunicorn behind nginx on the same machine: the traffic never leaves it.
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_url(url: str) -> str | None:
    """Why this URL is reached without TLS, or None (TLS, loopback, no scheme, or not a URL)."""
    if "://" not in url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if _loopback(host):
        return None
    if scheme in PLAINTEXT_SCHEMES:
        return f"{url} is plaintext {scheme}"
    if POSTGRES_SCHEMES.match(scheme):
        mode = (parse_qs(parts.query).get("sslmode") or [""])[-1]
        if mode not in POSTGRES_TLS_MODES:
            return (f"{url} lets PostgreSQL fall back to plaintext "
                    f"(sslmode={mode or 'prefer'}; use require or verify-full)")
    return None


def _flag(value: Any) -> bool | None:
    """A switch's value: provider configuration arrives as strings ("true"), resources' as booleans."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _old_tls(value: Any) -> bool:
    digits = re.search(r"(\d)\D?(\d)", str(value))
    return bool(digits) and (int(digits.group(1)), int(digits.group(2))) < (1, 2)


def _walk(value: Any, path: str = "", key: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key naming the value, value) for every leaf; list elements keep their list's key."""
    if isinstance(value, Mapping):
        for k in value:
            try:
                child = value[k]
            except UnknownValueError:
                continue
            yield from _walk(child, f"{path}.{k}" if path else str(k), str(k))
    elif not isinstance(value, (str, bytes)) and isinstance(value, Sequence):
        for index, item in enumerate(_items(value)):
            yield from _walk(item, f"{path}[{index}]", key)
    else:
        yield path, key, value


def tls_violations(props: Mapping[str, Any], *, plaintext_allowed: Sequence[str] = DEFAULT_PLAINTEXT_ALLOWED,
                   allow_unverified: bool = False) -> list[str]:
    """Every endpoint in props reached without TLS, or with verification off or a TLS below 1.2."""
    allowed = [_normal(word) for word in plaintext_allowed]
    found = []
    for path, key, value in _walk(props):
        name = _normal(key)
        if any(word and word in _normal(path) for word in allowed):
            continue
        if name in UNVERIFIED_KEYS or name.endswith("insecure"):
            if _flag(value) is True and not allow_unverified:
                found.append(f"{path}: certificate verification is off")
        elif TLS_ON_KEYS.search(name):
            if _flag(value) is False:
                found.append(f"{path}: TLS is off")
        elif name in MIN_TLS_KEYS:
            if value and _old_tls(value):
                found.append(f"{path}: TLS {value} is below 1.2")
        elif isinstance(value, str) and ENDPOINT_KEY.search(name):
            reason = plaintext_url(value)
            if reason:
                found.append(f"{path}: {reason}")
    return found


# --- CrossGuard wiring --------------------------------------------------------------------------

def _config_list(config: Mapping[str, Any], key: str, default: Sequence[str]) -> Sequence[str]:
    value = config.get(key)
    return default if value is None else list(value)


def _tls_options(config: Mapping[str, Any]) -> dict:
    return {"plaintext_allowed": _config_list(config, "plaintextAllowed", DEFAULT_PLAINTEXT_ALLOWED),
            "allow_unverified": bool(config.get("allowUnverifiedTls", False))}


def check_resource(rule: str, resource_type: str, props: Mapping[str, Any],
                   config: Mapping[str, Any] | None = None) -> list[str]:
    """One rule against one resource: the single entry point the policies (and tests) use."""
    config = config or {}
    if rule == "machine-has-backup-disk":
        return machine_backup_violations(resource_type, props)
    if rule == "bucket-not-anonymously-readable":
        return bucket_violations(resource_type, props)
    if rule == "tls-on-every-endpoint":
        return tls_violations(props, **_tls_options(config))
    raise KeyError(rule)


RULES = {
    "machine-has-backup-disk": "Every machine has a disk of its own for backups.",
    "bucket-not-anonymously-readable": "No bucket is readable by anonymous users.",
    "tls-on-every-endpoint": "Every endpoint is reached over TLS 1.2 or later, certificates verified.",
}
TLS_CONFIG_SCHEMA = {
    "plaintextAllowed": {
        "type": "array", "items": {"type": "string"}, "default": list(DEFAULT_PLAINTEXT_ALLOWED),
        "description": "key fragments whose plain-HTTP URLs are allowed (signed apt mirrors, forward proxies)"},
    "allowUnverifiedTls": {
        "type": "boolean", "default": False,
        "description": "accept `insecure: true` (a self-signed Proxmox certificate) while a CA is being set up"},
}


def _is_component(resource_type: str) -> bool:
    # Marsad's components and the root stack: their registered outputs (the inventory among
    # them) are only visible to a stack validation.
    return resource_type.startswith("marsad:") or resource_type == "pulumi:pulumi:Stack"


def resource_policy(rule: str):
    """The CrossGuard ResourceValidationPolicy for a rule (imports the SDK only when asked)."""
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

    providers_seen: set[str] = set()

    def validate(args, report_violation):
        if _is_component(args.resource_type):
            return  # the stack policy checks components, on their outputs: reported once
        config = args.get_config()
        for message in check_resource(rule, args.resource_type, args.props, config):
            report_violation(message)
        if args.resource_type.startswith("pulumi:providers:"):
            providers_seen.add(args.urn)
        elif rule == "tls-on-every-endpoint" and args.provider is not None and args.provider.urn not in providers_seen:
            # A default provider is configured by `pulumi config` (proxmoxve:endpoint...), not by
            # the program: its endpoint reaches the policy here. Reported once per provider.
            providers_seen.add(args.provider.urn)
            for message in tls_violations(args.provider.props, **_tls_options(config)):
                report_violation(f"provider {args.provider.name}: {message}")

    schema = PolicyConfigSchema(TLS_CONFIG_SCHEMA) if rule == "tls-on-every-endpoint" else None
    return ResourceValidationPolicy(name=rule, description=RULES[rule], validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)


def stack_violations(resources: Sequence[Any], config: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """(urn, message) for every rule broken by a component's or the stack's outputs."""
    found = []
    for resource in resources:
        if not _is_component(resource.resource_type):
            continue
        for rule in RULES:
            messages = check_resource(rule, resource.resource_type, resource.props, config)
            found.extend((resource.urn, f"{rule}: {m}") for m in messages)
    return found


def stack_policy():
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, StackValidationPolicy

    def validate(args, report_violation):
        for urn, message in stack_violations(args.resources, args.get_config()):
            report_violation(message, urn)

    return StackValidationPolicy(
        name="outputs-keep-the-guardrails",
        description="Marsad's components and stack outputs (the Ansible inventory) keep the same three rules.",
        validate=validate, enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(TLS_CONFIG_SCHEMA))


def policies() -> list:
    return [resource_policy(rule) for rule in RULES] + [stack_policy()]
