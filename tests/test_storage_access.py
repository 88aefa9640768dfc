"""Storage access from policies/: the pure plan, then isolation shown on the REAL SeaweedFS server."""
from __future__ import annotations

import io
import json
import secrets

import pytest
from click.testing import CliRunner
from minio import Minio
from minio.error import S3Error

from services.cli import main
from services.policy import load_policies
from services.storage import bucket_name
from services.storage_access import (
    Bucket, Identity, LifecycleRule, SeaweedAdmin, StorageSettings, StorageState, credentials_needed,
    desired_storage, identity_name, new_credentials, plan, reads_bucket_of,
)


@pytest.fixture(scope="module")
def policies():
    return load_policies()


# --- pure ----------------------------------------------------------------------------------------

def test_who_reads_whose_bucket_follows_the_agreements(policies):
    codes = sorted(policies.agreements)
    readers = {(r, o) for r in codes for o in codes if r != o and reads_bucket_of(policies, r, o)}
    onm = {("ONM", o) for o in codes if o != "ONM"}
    # The observatory reads everyone's (pseudonymised microdata of all); the Ministry of the Interior
    # its units' (parent_covers_units, own_microdata of what they submit); nobody else anyone's.
    assert readers == onm | {("MI", "MI-PAF"), ("MI", "MI-GN")}


def test_each_identity_writes_only_its_own_bucket(policies):
    desired = desired_storage(policies, StorageSettings(bucket_prefix="marsad"))
    assert set(desired.buckets) == {bucket_name("marsad", c) for c in policies.agreements}
    for code in policies.agreements:
        identity = desired.identities[identity_name("marsad", code)]
        own = bucket_name("marsad", code)
        assert {a for a in identity.actions if a.startswith("Write:")} == {f"Write:{own}"}
        assert {f"Read:{own}", f"List:{own}"} <= identity.actions
        assert not any(":" not in a or a.startswith(("Admin", "Tagging")) for a in identity.actions)
    assert desired.identities["marsad.ins"].actions == {"Read:marsad-ins", "Write:marsad-ins", "List:marsad-ins"}
    assert "Read:marsad-mi-paf" in desired.identities["marsad.mi"].actions
    assert "Read:marsad-mi" not in desired.identities["marsad.mi-paf"].actions


def test_buckets_are_versioned_with_marsads_lifecycle_rules(policies):
    desired = desired_storage(policies, StorageSettings(noncurrent_days=90, abort_multipart_days=3))
    bucket = desired.buckets["marsad-onm"]
    assert bucket.versioning == "Enabled"
    assert bucket.rules == (LifecycleRule("marsad-abort-multipart", abort_multipart_days=3),
                            LifecycleRule("marsad-noncurrent-versions", noncurrent_days=90))


def test_storage_sync_and_the_ansible_filter_make_the_same_keys(policies):
    """One function (services.s3keys) behind `storage sync`'s keys and the objectstore role's."""
    import runpy
    from pathlib import Path

    plugin = runpy.run_path(str(Path(__file__).parents[1] / "playbooks/filter_plugins/marsad.py"))
    filters = plugin["FilterModule"]().filters()
    seed = "a seed the test chose"
    deployed = filters["marsad_institution_credentials"](seed)
    assert set(deployed) == set(policies.agreements)
    for code, keys in deployed.items():
        assert new_credentials(code, seed) == (keys["access_key"], keys["secret_key"])
    assert filters["marsad_institution_credentials"]("another seed")["MI"] != deployed["MI"]
    # Without a seed: fresh keys of the same shape each time.
    first, second = new_credentials("MI"), new_credentials("MI")
    assert first != second and len(first[0]) == 20 and first[0].isupper() and len(first[1]) == 40
    with pytest.raises(ValueError, match="empty seed"):
        filters["marsad_derive"]("", "label")


def test_plan_from_nothing_creates_buckets_before_identities(policies):
    desired = desired_storage(policies)
    credentials = credentials_needed(desired, StorageState(), {})
    actions = plan(desired, StorageState(), "marsad", credentials)
    kinds = [a.kind for a in actions]
    assert kinds == sorted(kinds)          # "bucket" < "identity"
    creates = [a for a in actions if a.kind == "identity"]
    assert len(creates) == len(policies.agreements) and all(a.op == "create" and a.secret_key for a in creates)
    assert all(a.secret_key not in str(a) for a in creates)     # plans are printed: never a secret


def test_plan_updates_minimally_and_deletes_only_its_own_identities(policies):
    desired = desired_storage(policies)
    current = StorageState(
        buckets={name: Bucket(name, b.versioning, b.rules) for name, b in desired.buckets.items()},
        identities={name: Identity(name, i.actions, {"K" + name: "s"}) for name, i in desired.identities.items()},
    )
    assert plan(desired, current, "marsad") == []
    current.buckets["marsad-ins"] = Bucket("marsad-ins", None, ())
    mae = current.identities["marsad.mae"]
    current.identities["marsad.mae"] = Identity(mae.name, (mae.actions | {"Read:marsad-mefp"}) - {"List:marsad-mae"},
                                                mae.access_keys)
    current.identities["marsad.old"] = Identity("marsad.old", frozenset({"Read:marsad-old"}), {"K": "s"})
    current.identities["admin"] = Identity("admin", frozenset({"Admin"}), {"A": "s"}, static=True)
    current.identities["marsad.static"] = Identity("marsad.static", frozenset({"Admin"}), {}, static=True)
    current.identities["backup-robot"] = Identity("backup-robot", frozenset({"Read"}), {"B": "s"})
    actions = [str(a) for a in plan(desired, current, "marsad")]
    assert actions == [
        "~ bucket marsad-ins versioning",
        "~ bucket marsad-ins lifecycle marsad-abort-multipart(abort multipart 7d), "
        "marsad-noncurrent-versions(noncurrent 365d)",
        "~ identity marsad.mae grant List:marsad-mae",
        "- identity marsad.mae revoke Read:marsad-mefp",
        "- identity marsad.old",
    ]


def test_given_keys_rotate_the_old_ones_out(policies):
    desired = desired_storage(policies)
    current = StorageState(
        buckets={name: Bucket(name, b.versioning, b.rules) for name, b in desired.buckets.items()},
        identities={name: Identity(name, i.actions, {"OLD": "s"}) for name, i in desired.identities.items()},
    )
    actions = plan(desired, current, "marsad", {"marsad.ins": ("NEW", "secret")})
    assert [str(a) for a in actions] == ["~ identity marsad.ins add_key key NEW",
                                         "- identity marsad.ins remove_key key OLD"]


def test_a_foreign_identity_with_a_marsad_name_is_refused(policies):
    desired = desired_storage(policies)
    current = StorageState(identities={"marsad.ins": Identity("marsad.ins", frozenset({"Admin"}), {}, static=True)})
    with pytest.raises(ValueError, match="not Marsad's"):
        plan(desired, current, "marsad", credentials_needed(desired, current, {}))


def test_cli_plan_without_a_server_plans_an_empty_store():
    result = CliRunner().invoke(main, ["storage", "plan"], env={"MARSAD_S3_ENDPOINT": ""})
    assert result.exit_code == 0, result.output
    assert "+ bucket marsad-onm" in result.output and "+ identity marsad.onm" in result.output


# --- the real SeaweedFS --------------------------------------------------------------------------

def _admin(s3) -> SeaweedAdmin:
    master = f"127.0.0.1:{s3.ports['master']}.{s3.ports['master.grpc']}"
    return SeaweedAdmin(endpoint=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, master=master)


def _remove(admin: SeaweedAdmin, s3, prefix: str) -> None:
    doomed = [f"s3.configure -user={n} -delete -apply" for n in admin.identities() if n.startswith(prefix + ".")]
    if doomed:
        admin.shell(doomed)
    s3.remove_buckets(prefix + "-")


@pytest.fixture
def seaweed(s3):
    """A SeaweedAdmin on the session's server and a prefix of its own; its buckets and identities
    are removed afterwards."""
    admin, prefix = _admin(s3), f"t{secrets.token_hex(4)}"
    yield admin, prefix
    _remove(admin, s3, prefix)


@pytest.fixture(scope="module")
def synced(s3, policies):
    """Policies applied once for the module's isolation tests (each test leaves the plan empty)."""
    admin, prefix = _admin(s3), f"t{secrets.token_hex(4)}"
    desired = desired_storage(policies, StorageSettings(bucket_prefix=prefix, noncurrent_days=30))
    current = admin.read_state(prefix)
    credentials = credentials_needed(desired, current, {})
    admin.apply(plan(desired, current, prefix, credentials))
    keys = {name[len(prefix) + 1:].upper(): pair for name, pair in credentials.items()}
    yield admin, prefix, desired, keys
    _remove(admin, s3, prefix)


def _client(admin: SeaweedAdmin, keys, code) -> Minio:
    return Minio(admin.endpoint, *keys[code], secure=admin.secure)


def _refused(call) -> str:
    with pytest.raises(S3Error) as caught:
        call()
    return caught.value.code


def test_institutions_are_isolated_and_the_observatory_reads_what_its_agreement_allows(synced):
    admin, prefix, _, keys = synced
    mae, mefp, onm = (_client(admin, keys, c) for c in ("MAE", "MEFP", "ONM"))
    mae_bucket, mefp_bucket = bucket_name(prefix, "MAE"), bucket_name(prefix, "MEFP")
    raw = "raw/ab/" + "ab" * 32

    # Each institution writes and reads its own bucket.
    mae.put_object(mae_bucket, raw, io.BytesIO(b"consular rows"), 13)
    mefp.put_object(mefp_bucket, raw, io.BytesIO(b"work permits"), 12)
    assert mae.get_object(mae_bucket, raw).read() == b"consular rows"
    assert [o.object_name for o in mae.list_objects(mae_bucket, recursive=True)] == [raw]

    # A cannot read, list nor write B's raw files.
    assert _refused(lambda: mae.get_object(mefp_bucket, raw).read()) == "AccessDenied"
    assert _refused(lambda: list(mae.list_objects(mefp_bucket, recursive=True))) == "AccessDenied"
    assert _refused(lambda: mae.put_object(mefp_bucket, "raw/x", io.BytesIO(b"x"), 1)) == "AccessDenied"
    assert _refused(lambda: mae.stat_object(mefp_bucket, raw)) in ("AccessDenied", "Forbidden", "NoSuchKey")
    assert mefp_bucket not in [b.name for b in mae.list_buckets()]

    # The observatory reads and lists every partner's files, and writes none of them.
    assert onm.get_object(mefp_bucket, raw).read() == b"work permits"
    assert [o.object_name for o in onm.list_objects(mae_bucket, recursive=True)] == [raw]
    assert _refused(lambda: onm.put_object(mefp_bucket, "raw/y", io.BytesIO(b"y"), 1)) == "AccessDenied"
    assert _refused(lambda: onm.remove_object(mefp_bucket, raw)) == "AccessDenied"
    onm.put_object(bucket_name(prefix, "ONM"), "exports/a.csv", io.BytesIO(b"a"), 1)
    # Nobody creates buckets.
    assert _refused(lambda: onm.make_bucket(f"{prefix}-new")) == "AccessDenied"


def test_a_ministry_reads_its_units_buckets_but_not_the_reverse(synced):
    admin, prefix, _, keys = synced
    paf, mi = _client(admin, keys, "MI-PAF"), _client(admin, keys, "MI")
    paf.put_object(bucket_name(prefix, "MI-PAF"), "raw/p", io.BytesIO(b"crossings"), 9)
    mi.put_object(bucket_name(prefix, "MI"), "raw/m", io.BytesIO(b"permits"), 7)
    assert mi.get_object(bucket_name(prefix, "MI-PAF"), "raw/p").read() == b"crossings"
    assert _refused(lambda: paf.get_object(bucket_name(prefix, "MI"), "raw/m").read()) == "AccessDenied"
    assert _refused(lambda: mi.put_object(bucket_name(prefix, "MI-PAF"), "raw/z", io.BytesIO(b"z"), 1)) \
        == "AccessDenied"


def test_buckets_have_versioning_and_lifecycle_and_a_second_plan_is_empty(synced):
    admin, prefix, desired, _ = synced
    state = admin.read_state(prefix)
    assert set(state.buckets) == set(desired.buckets)
    bucket = state.buckets[bucket_name(prefix, "ONM")]
    assert bucket.versioning == "Enabled"
    assert bucket.rules == (LifecycleRule("marsad-abort-multipart", abort_multipart_days=7),
                            LifecycleRule("marsad-noncurrent-versions", noncurrent_days=30))
    assert plan(desired, state, prefix) == []


def test_drift_is_repaired_and_foreign_identities_and_rules_survive(synced):
    from minio.commonconfig import ENABLED, Filter
    from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

    admin, prefix, desired, keys = synced
    ins_bucket = bucket_name(prefix, "INS")
    admin.shell([f"s3.configure -user={prefix}.ins -actions=Read:{bucket_name(prefix, 'MAE')} -apply",
                 f"s3.configure -user={prefix}-robot -actions=Read:{ins_bucket} "
                 f"-access_key=ROBOT{secrets.token_hex(4).upper()} -secret_key={secrets.token_urlsafe(24)} -apply"])
    admin.client.set_bucket_lifecycle(ins_bucket, LifecycleConfig([Rule(
        ENABLED, rule_filter=Filter(prefix="tmp/"), rule_id="it-team-tmp", expiration=Expiration(days=2))]))
    try:
        actions = plan(desired, admin.read_state(prefix), prefix)
        assert [str(a) for a in actions] == [
            f"~ bucket {ins_bucket} lifecycle marsad-abort-multipart(abort multipart 7d), "
            "marsad-noncurrent-versions(noncurrent 30d)",
            f"- identity {prefix}.ins revoke Read:{bucket_name(prefix, 'MAE')}",
        ]
        admin.apply(actions)
        state = admin.read_state(prefix)
        assert plan(desired, state, prefix) == []
        assert f"{prefix}-robot" in state.identities and "marsad-test-admin" in state.identities
        rules = {r.rule_id for r in admin.client.get_bucket_lifecycle(ins_bucket).rules}
        assert rules == {"it-team-tmp", "marsad-abort-multipart", "marsad-noncurrent-versions"}
    finally:
        admin.shell([f"s3.configure -user={prefix}-robot -delete -apply"])


def test_cli_sync_writes_new_keys_and_a_second_sync_does_nothing(seaweed, s3, tmp_path):
    admin, prefix = seaweed
    env = {"MARSAD_S3_ENDPOINT": f"http://{s3.endpoint}", "MARSAD_S3_ACCESS_KEY": s3.access_key,
           "MARSAD_S3_SECRET_KEY": s3.secret_key, "MARSAD_S3_BUCKET_PREFIX": prefix, "MARSAD_WEED": admin.weed,
           "MARSAD_WEED_MASTER": admin.master}
    runner = CliRunner()
    refused = runner.invoke(main, ["storage", "sync"], env=env)
    assert refused.exit_code != 0 and "--credentials-out" in refused.output
    keys_file = tmp_path / "keys.json"
    first = runner.invoke(main, ["storage", "sync", "--credentials-out", str(keys_file)], env=env)
    assert first.exit_code == 0, first.output
    assert "in sync" in first.output
    keys = json.loads(keys_file.read_text())
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert keys["INS"]["identity"] == f"{prefix}.ins"
    assert all(k["secret_key"] not in first.output for k in keys.values())
    second = runner.invoke(main, ["storage", "plan"], env=env)
    assert second.exit_code == 0 and "nothing to do" in second.output
    ins = Minio(s3.endpoint, keys["INS"]["access_key"], keys["INS"]["secret_key"], secure=False)
    assert [b.name for b in ins.list_buckets()] == [bucket_name(prefix, "INS")]
