"""Object-store access compiled from policies/: buckets, versioning, lifecycle, per-institution keys.

Pure core (`desired_storage`, `plan`) apart from the I/O (`SeaweedAdmin`), as for the realm.

* One bucket per institution and per unit (services.storage.bucket_name), versioning on, and
  lifecycle rules Marsad owns (ids starting "marsad-"): non-current versions expire after
  `noncurrent_days`, unfinished multipart uploads are aborted after `abort_multipart_days`.
  Buckets are never deleted by a plan: they hold the raw archive.
* One S3 identity per institution and unit, named ``<prefix>.<code>`` (e.g. ``marsad.mi-paf``),
  with SeaweedFS's bucket-scoped actions: Read, Write and List on its own bucket; Read and List
  on another institution's bucket only when its agreement lets it read the microdata of every
  dataset that institution submits (`services.policy.decide`, microdata.read). With today's
  policies: the observatory (pseudonymised microdata of all) reads every bucket, the Ministry of
  the Interior reads its units' buckets (parent_covers_units), nobody else reads anyone's.

SeaweedFS (4.x), what this relies on, checked against the server the tests start:

* Identities are managed at run time with `weed shell` `s3.configure` (stored by the filer's
  credential store, pushed to running S3 gateways within a second). The IAM API on the S3 port
  is read-only by default (-s3.iam.readOnly=true), so it is not used. Identities from the
  gateway's static -s3.config file ("isStatic") are never touched, nor any identity whose name
  does not start with ``<prefix>.``.
* Lifecycle: SeaweedFS accepts NoncurrentVersionExpiration, AbortIncompleteMultipartUpload,
  Expiration (Days/Date, ExpiredObjectDeleteMarker); it rejects Transition (no storage classes).
  Rules run in its lifecycle worker (`weed admin` + `weed worker`, scheduler on by default), not
  in a bare `weed server`. Expiration.Days is deliberately NOT used: SeaweedFS stamps a TTL on
  every object written under such a rule, irreversibly, and raw files must be kept.
"""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from services.config import StorageEnv, section
from services.policy import Policies, Principal, Resource, decide
from services.s3keys import institution_keys
from services.storage import bucket_name

RULE_PREFIX = "marsad-"
OWN_ACTIONS = ("Read", "Write", "List")
READ_ACTIONS = ("Read", "List")


# --- the desired state (pure) ------------------------------------------------------------------

@dataclass(frozen=True)
class StorageSettings:
    bucket_prefix: str = "marsad"
    noncurrent_days: int = 365
    abort_multipart_days: int = 7

    @classmethod
    def from_env(cls, environ=None) -> StorageSettings:
        """MARSAD_S3_BUCKET_PREFIX (as services.storage reads it), MARSAD_S3_NONCURRENT_DAYS,
        MARSAD_S3_ABORT_MULTIPART_DAYS."""
        env = section(StorageEnv, environ)
        base = cls()
        return cls(
            bucket_prefix=env.s3_bucket_prefix or base.bucket_prefix,
            noncurrent_days=base.noncurrent_days if env.s3_noncurrent_days is None else env.s3_noncurrent_days,
            abort_multipart_days=(base.abort_multipart_days if env.s3_abort_multipart_days is None
                                  else env.s3_abort_multipart_days),
        )


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    noncurrent_days: int | None = None
    abort_multipart_days: int | None = None


@dataclass(frozen=True)
class Bucket:
    name: str
    versioning: str | None = "Enabled"
    rules: tuple[LifecycleRule, ...] = ()     # ours only (ids starting RULE_PREFIX), sorted by id


@dataclass(frozen=True)
class Identity:
    name: str
    actions: frozenset[str]                    # SeaweedFS actions, "Read:<bucket>"...
    access_keys: Mapping[str, str] = field(default_factory=dict)   # current state only: key -> secret
    static: bool = False                       # from the gateway's -s3.config file: never touched


@dataclass
class StorageState:
    buckets: dict[str, Bucket] = field(default_factory=dict)
    identities: dict[str, Identity] = field(default_factory=dict)


def identity_name(prefix: str, institution: str) -> str:
    # The prefix cannot contain "." (bucket_name checks it), so deployments sharing a server
    # with different prefixes never mistake each other's identities for their own.
    return f"{prefix}.{institution.lower()}"


def is_managed_identity(prefix: str, identity: Identity) -> bool:
    return identity.name.startswith(f"{prefix}.") and not identity.static


def reads_bucket_of(policies: Policies, reader: str, owner: str) -> bool:
    """Whether `reader`'s agreement lets it read the raw files of `owner`: the microdata of every
    dataset `owner` submits (a bucket mixes them; no per-dataset prefix separates them), or, when
    `owner` submits nothing, the microdata of datasets its agreement does not name."""
    if reader == owner:
        return True
    roles = frozenset(r for r in policies.roles_allowed(reader)
                      if r in policies.roles and not policies.roles[r].sandbox_only)
    principal = Principal(username=f"storage:{reader}", institution=reader, roles=roles)
    datasets = policies.datasets_submitted_by(owner) or (None,)
    return all(decide(policies, principal, "microdata.read",
                      Resource(kind="microdata", institution=owner, dataset=d)).allowed for d in datasets)


def desired_storage(policies: Policies, settings: StorageSettings | None = None) -> StorageState:
    settings = settings or StorageSettings()
    prefix = settings.bucket_prefix
    rules = tuple(sorted((
        LifecycleRule(f"{RULE_PREFIX}noncurrent-versions", noncurrent_days=settings.noncurrent_days),
        LifecycleRule(f"{RULE_PREFIX}abort-multipart", abort_multipart_days=settings.abort_multipart_days),
    ), key=lambda r: r.id))
    codes = sorted(policies.agreements)
    buckets = {bucket_name(prefix, c): Bucket(bucket_name(prefix, c), "Enabled", rules) for c in codes}
    identities = {}
    for reader in codes:
        actions = {f"{a}:{bucket_name(prefix, reader)}" for a in OWN_ACTIONS}
        for owner in codes:
            if owner != reader and reads_bucket_of(policies, reader, owner):
                actions |= {f"{a}:{bucket_name(prefix, owner)}" for a in READ_ACTIONS}
        name = identity_name(prefix, reader)
        identities[name] = Identity(name, frozenset(actions))
    return StorageState(buckets=buckets, identities=identities)


# --- the plan (pure) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StorageAction:
    op: str          # create | versioning | lifecycle | grant | revoke | add_key | remove_key | delete
    kind: str        # bucket | identity
    name: str
    actions: tuple[str, ...] = ()
    rules: tuple[LifecycleRule, ...] = ()
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        sign = {"create": "+", "delete": "-", "revoke": "-", "remove_key": "-"}.get(self.op, "~")
        text = f"{sign} {self.kind} {self.name}"
        if self.op not in ("create", "delete") or self.actions:
            text += f" {self.op}"
        if self.actions:
            text += " " + ",".join(self.actions)
        if self.rules:
            text += " " + ", ".join(
                f"{r.id}({'noncurrent ' + str(r.noncurrent_days) + 'd' if r.noncurrent_days else ''}"
                f"{'abort multipart ' + str(r.abort_multipart_days) + 'd' if r.abort_multipart_days else ''})"
                for r in self.rules)
        if self.access_key:
            text += f" key {self.access_key}"   # never the secret
        return text


def plan(desired: StorageState, current: StorageState, prefix: str,
         credentials: Mapping[str, tuple[str, str]] | None = None) -> list[StorageAction]:
    """Ordered actions: buckets before the identities that name them; deletions last.

    `credentials`: identity name -> (access key, secret key). Required for every identity to be
    created; for an existing one, a different key given here is added and its other keys removed
    (rotation); an identity with no credentials given keeps the keys it has.
    """
    credentials = credentials or {}
    out: list[StorageAction] = []
    for name, want in sorted(desired.buckets.items()):
        have = current.buckets.get(name)
        if have is None:
            out.append(StorageAction("create", "bucket", name))
        if have is None or have.versioning != want.versioning:
            out.append(StorageAction("versioning", "bucket", name))
        if have is None or have.rules != want.rules:
            out.append(StorageAction("lifecycle", "bucket", name, rules=want.rules))

    deletions = []
    for name, want in sorted(desired.identities.items()):
        have = current.identities.get(name)
        given = credentials.get(name)
        if have is None:
            if given is None:
                raise ValueError(f"no credentials for the new identity {name}")
            out.append(StorageAction("create", "identity", name, actions=tuple(sorted(want.actions)),
                                     access_key=given[0], secret_key=given[1]))
            continue
        if have.static or not is_managed_identity(prefix, have):
            raise ValueError(f"identity {name} exists but is not Marsad's (static or foreign); rename it")
        if want.actions - have.actions:
            out.append(StorageAction("grant", "identity", name, actions=tuple(sorted(want.actions - have.actions))))
        if have.actions - want.actions:
            out.append(StorageAction("revoke", "identity", name, actions=tuple(sorted(have.actions - want.actions))))
        if given is not None:
            if have.access_keys.get(given[0]) != given[1]:
                out.append(StorageAction("add_key", "identity", name, access_key=given[0], secret_key=given[1]))
            for key in sorted(have.access_keys):
                if key != given[0]:
                    deletions.append(StorageAction("remove_key", "identity", name, access_key=key))
    for name, have in sorted(current.identities.items()):
        if name not in desired.identities and is_managed_identity(prefix, have):
            deletions.append(StorageAction("delete", "identity", name))
    return out + deletions


def new_credentials(name: str, seed: str | None = None) -> tuple[str, str]:
    """The key pair of `name` made the one way (services.s3keys) from `seed`; without a seed, from
    a fresh random one, so the keys are new and unguessable."""
    keys = institution_keys(seed or secrets.token_hex(32), name)
    return keys["access_key"], keys["secret_key"]


def credentials_needed(desired: StorageState, current: StorageState,
                       given: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """`given` plus fresh keys for identities that do not exist yet and were given none."""
    out = dict(given)
    for name in desired.identities:
        if name not in current.identities and name not in out:
            out[name] = new_credentials(name)
    return out


# --- SeaweedFS (I/O) ---------------------------------------------------------------------------

class StorageSyncError(RuntimeError):
    pass


def find_weed(environ=None) -> str:
    weed = section(StorageEnv, environ).weed
    if weed:
        return weed
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise StorageSyncError("the SeaweedFS `weed` command is not found; set MARSAD_WEED")
    return found


class SeaweedAdmin:
    """Reads and changes a SeaweedFS deployment: buckets through its S3 API (admin credentials),
    identities through `weed shell` connected to its master."""

    def __init__(self, *, endpoint: str, access_key: str, secret_key: str, master: str, weed: str | None = None,
                 secure: bool = False, region: str = "us-east-1"):
        from minio import Minio

        self.client = Minio(endpoint, access_key, secret_key, secure=secure, region=region)
        self.endpoint, self.secure, self.region = endpoint, secure, region
        self.master = master
        self.weed = weed or find_weed()

    @classmethod
    def from_env(cls, environ=None) -> SeaweedAdmin:
        """MARSAD_S3_ENDPOINT, MARSAD_S3_ACCESS_KEY, MARSAD_S3_SECRET_KEY (an Admin identity),
        MARSAD_S3_SECURE, MARSAD_WEED_MASTER (host:port, or host:port.grpcport), MARSAD_WEED."""
        from urllib.parse import urlsplit

        env = section(StorageEnv, environ)
        missing = [f"MARSAD_{n.upper()}" for n in ("s3_endpoint", "s3_access_key", "s3_secret_key") if not getattr(env, n)]
        if missing:
            raise StorageSyncError(f"{', '.join(missing)} not set")
        endpoint, secure = env.s3_endpoint, env.s3_secure.lower() in ("1", "true", "yes")
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            endpoint, secure = parts.netloc, parts.scheme == "https"
        return cls(endpoint=endpoint, access_key=env.s3_access_key, secret_key=env.s3_secret_key,
                   master=env.weed_master, weed=find_weed(environ), secure=secure, region=env.s3_region)

    # weed shell: commands on standard input, so secrets never appear in a process list
    def shell(self, commands: list[str]) -> str:
        done = subprocess.run([self.weed, "shell", f"-master={self.master}"], input="\n".join(commands) + "\n",
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or "error:" in done.stdout.lower() or "error:" in done.stderr.lower():
            # The output may carry secrets (s3.configure echoes identities): show only the errors.
            lines = [line for line in (done.stdout + done.stderr).splitlines() if "error" in line.lower()]
            raise StorageSyncError(f"weed shell failed ({done.returncode}): {' / '.join(lines[:5]) or 'no message'}")
        return done.stdout

    def identities(self) -> dict[str, Identity]:
        text = self.shell(["s3.configure"])
        start = text.find("{")
        if start < 0:
            raise StorageSyncError("s3.configure printed no configuration")
        config, _ = json.JSONDecoder().raw_decode(text[start:])
        out = {}
        for item in config.get("identities") or []:
            keys = {c["accessKey"]: c.get("secretKey", "") for c in item.get("credentials") or []}
            out[item["name"]] = Identity(item["name"], frozenset(item.get("actions") or []), keys,
                                         bool(item.get("isStatic")))
        return out

    def _rules(self, bucket: str) -> tuple[LifecycleRule, ...]:
        config = self.client.get_bucket_lifecycle(bucket)
        rules = []
        for rule in (config.rules if config else []):
            if not (rule.rule_id or "").startswith(RULE_PREFIX):
                continue
            noncurrent = rule.noncurrent_version_expiration
            abort = rule.abort_incomplete_multipart_upload
            rules.append(LifecycleRule(rule.rule_id, noncurrent.noncurrent_days if noncurrent else None,
                                       abort.days_after_initiation if abort else None))
        return tuple(sorted(rules, key=lambda r: r.id))

    def read_state(self, prefix: str) -> StorageState:
        buckets = {}
        for bucket in self.client.list_buckets():
            if bucket.name.startswith(f"{prefix}-"):
                status = self.client.get_bucket_versioning(bucket.name).status
                buckets[bucket.name] = Bucket(bucket.name, status if status != "Off" else None,
                                              self._rules(bucket.name))
        return StorageState(buckets=buckets, identities=self.identities())

    def _set_lifecycle(self, bucket: str, ours: tuple[LifecycleRule, ...]) -> None:
        from minio.commonconfig import ENABLED, Filter
        from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, NoncurrentVersionExpiration, Rule

        current = self.client.get_bucket_lifecycle(bucket)
        # A bucket has one lifecycle configuration: keep the rules others added.
        kept = [r for r in (current.rules if current else []) if not (r.rule_id or "").startswith(RULE_PREFIX)]
        rules = kept + [Rule(
            ENABLED, rule_filter=Filter(prefix=""), rule_id=r.id,
            noncurrent_version_expiration=NoncurrentVersionExpiration(r.noncurrent_days) if r.noncurrent_days else None,
            abort_incomplete_multipart_upload=(AbortIncompleteMultipartUpload(r.abort_multipart_days)
                                               if r.abort_multipart_days else None),
        ) for r in ours]
        self.client.set_bucket_lifecycle(bucket, LifecycleConfig(rules))

    @staticmethod
    def _identity_command(action: StorageAction) -> str:
        user = f"s3.configure -user={action.name}"
        actions = ",".join(action.actions)
        match action.op:
            case "create":
                return (f"{user} -actions={actions} -access_key={action.access_key} "
                        f"-secret_key={action.secret_key} -apply")
            case "grant":
                return f"{user} -actions={actions} -apply"
            case "revoke":
                return f"{user} -actions={actions} -delete -apply"
            case "add_key":
                return f"{user} -access_key={action.access_key} -secret_key={action.secret_key} -apply"
            case "remove_key":
                return f"{user} -access_key={action.access_key} -delete -apply"
            case "delete":
                return f"{user} -delete -apply"
        raise StorageSyncError(f"unknown action {action}")

    def apply(self, actions: list[StorageAction], echo=None) -> None:
        """Bucket actions through S3, then every identity action in ONE `weed shell` session (each
        session costs a connection to the master; the plan already put buckets first)."""
        from minio.commonconfig import ENABLED
        from minio.error import S3Error
        from minio.versioningconfig import VersioningConfig

        commands = []
        for action in actions:
            if echo:
                echo(str(action))
            if action.kind != "bucket":
                commands.append(self._identity_command(action))
            elif action.op == "create":
                try:
                    self.client.make_bucket(action.name, location=self.region)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            elif action.op == "versioning":
                self.client.set_bucket_versioning(action.name, VersioningConfig(ENABLED))
            elif action.op == "lifecycle":
                self._set_lifecycle(action.name, action.rules)
        if commands:
            self.shell(commands)
