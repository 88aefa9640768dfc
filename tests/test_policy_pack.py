"""The guardrails policy pack (infra/policy): each rule against fake resources.

Resources are built the way the policy SDK hands them to a policy: ResourceValidationArgs
whose props are the SDK's unknown-checking proxies (Mapping/Sequence, not dict/list), with
camelCase property names as the engine sends them. The pure checks are called directly too.
"""
from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

try:
    import pulumi_policy
    from pulumi_policy import (
        EnforcementLevel, PolicyCustomTimeouts, PolicyProviderResource, PolicyResource, PolicyResourceOptions,
        ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy,
    )
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy
except ImportError:  # a failure, not a skip: `make plan` installs infra/requirements.txt
    pytest.fail("pulumi-policy is missing: .venv/bin/pip install -r infra/requirements.txt", pytrace=False)

from infra.policy import guardrails as g

POLICY_DIR = Path(__file__).resolve().parents[1] / "infra" / "policy"
VM = g.PROXMOX_VM


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def args(resource_type: str, props: dict, config: dict | None = None, provider: PolicyProviderResource | None = None):
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props), f"urn:pulumi:t::marsad::{resource_type}::r",
                                  "r", _opts(), provider, config)


def policy(name: str):
    return next(p for p in g.policies() if p.name == name)


def violations(rule: str, resource_type: str, props: dict, config: dict | None = None) -> list[str]:
    """Run the real CrossGuard policy object, collecting what it reports."""
    found: list[str] = []
    result = policy(rule).validate(args(resource_type, props, config), lambda message, urn=None: found.append(message))
    assert result is None  # synchronous: nothing left to await
    return found


def vm_disks(*purposes: str, size: int = 20) -> list[dict]:
    return [{"interface": f"virtio{i}", "datastoreId": "local-lvm", "size": size, "serial": f"marsad-{p}"}
            for i, p in enumerate(purposes)]


# --- the pack itself -------------------------------------------------------------------------


def test_pack_has_one_mandatory_policy_per_rule_and_the_stack_policy():
    policies = g.policies()
    assert [p.name for p in policies] == [*g.RULES, "outputs-keep-the-guardrails"]
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in policies)
    assert all(isinstance(p, ResourceValidationPolicy) for p in policies[:3])
    assert isinstance(policies[3], StackValidationPolicy)


def test_main_builds_the_policy_pack(monkeypatch):
    built = {}

    class FakePack:  # the real PolicyPack starts a gRPC server and serves forever
        def __init__(self, **kwargs):
            built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    monkeypatch.syspath_prepend(str(POLICY_DIR))
    monkeypatch.delitem(sys.modules, "guardrails", raising=False)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert built["name"] == "marsad-guardrails"
    assert built["enforcement_level"] is EnforcementLevel.MANDATORY
    assert [p.name for p in built["policies"]] == [p.name for p in g.policies()]


def test_policy_pack_project_file_runs_in_the_repository_venv():
    import yaml
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (POLICY_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == (POLICY_DIR.parents[1] / ".venv")


# --- machine-has-backup-disk ---------------------------------------------------------------


def test_vm_with_backup_disk_passes():
    assert violations("machine-has-backup-disk", VM, {"disks": vm_disks("system", "data", "backup")}) == []


def test_second_backup_disk_counts_too():
    disks = vm_disks("system", "backup")
    disks[1]["serial"] = "marsad-backup1"
    assert violations("machine-has-backup-disk", VM, {"disks": disks}) == []


@pytest.mark.parametrize("props, expected", [
    ({"disks": vm_disks("system", "data")}, "no backup disk"),
    ({}, "no backup disk"),
    ({"disks": vm_disks("system", "backup", size=0)}, "backup disk has no size"),
    ({"disks": vm_disks("backup")}, "only disk"),
    ({"disks": [{"interface": "virtio1", "size": 50, "serial": "backup"}]}, "no backup disk"),  # not our serial
])
def test_vm_without_a_usable_backup_disk_is_refused(props, expected):
    found = violations("machine-has-backup-disk", VM, props)
    assert len(found) == 1 and expected in found[0]


def test_newer_proxmox_vm_resource_declares_no_disks_so_is_refused():
    assert violations("machine-has-backup-disk", g.PROXMOX_VM_NEW, {"nodeName": "pve1"})


def test_values_a_preview_cannot_know_are_judged_at_up_not_refused():
    disks = vm_disks("system", "backup")
    disks[1]["size"] = UNKNOWN_STRING_VALUE
    assert violations("machine-has-backup-disk", VM, {"disks": disks}) == []
    assert violations("machine-has-backup-disk", VM, {"disks": UNKNOWN_STRING_VALUE}) == []


def test_bare_metal_server_is_checked_on_its_description():
    ok = {"name": "db1", "disks": [{"name": "s", "size_gb": 240, "purpose": "system"},
                                   {"name": "b", "size_gb": 2000, "purpose": "backup"}]}
    bad = {"name": "db1", "disks": [{"name": "s", "size_gb": 240, "purpose": "system"}]}
    assert g.machine_backup_violations(g.BARE_METAL_SERVER, ok) == []
    assert g.machine_backup_violations(g.BARE_METAL_SERVER, bad) == [
        "db1 has no backup disk: declare a disk of purpose 'backup' in hardware/"]


def test_other_resources_are_no_machines():
    assert violations("machine-has-backup-disk", "random:index/randomPassword:RandomPassword", {"length": 43}) == []


# --- bucket-not-anonymously-readable --------------------------------------------------------

PUBLIC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::raw/*"}]}


@pytest.mark.parametrize("resource_type, props", [
    ("minio:index/s3Bucket:S3Bucket", {"bucket": "raw", "acl": "private"}),
    ("aws:s3/bucketV2:BucketV2", {"bucket": "raw"}),
    ("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "raw", "policy": json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/onm"}, "Action": "s3:*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject"}]})}),
    ("aws:s3/bucketAclV2:BucketAclV2", {"accessControlPolicy": {"grants": [
        {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/s3/LogDelivery"}, "permission": "WRITE"}]}}),
])
def test_private_buckets_pass(resource_type, props):
    assert violations("bucket-not-anonymously-readable", resource_type, props) == []


@pytest.mark.parametrize("resource_type, props, expected", [
    ("minio:index/s3Bucket:S3Bucket", {"bucket": "raw", "acl": "public-read"}, "canned ACL 'public-read'"),
    ("minio:index/s3Bucket:S3Bucket", {"bucket": "raw", "acl": "public"}, "canned ACL 'public'"),
    ("aws:s3/bucketAclV2:BucketAclV2", {"acl": "authenticated-read"}, "canned ACL 'authenticated-read'"),
    ("minio:index/s3BucketPolicy:S3BucketPolicy", {"policy": json.dumps(PUBLIC_POLICY)}, "PublicRead lets anyone read"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": PUBLIC_POLICY | {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:List*"]}]}}, "Statement[0] lets anyone read"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": {"Statement": {
        "Effect": "Allow", "Principal": "*", "Action": "*"}}}, "lets anyone read"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": {"Statement": [
        {"Effect": "Allow", "Principal": "*", "NotAction": "s3:PutObject"}]}}, "lets anyone read"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": {"Statement": [   # a condition still lets everyone behind it in
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}}, "lets anyone read"),
    ("aws:s3/bucketAclV2:BucketAclV2", {"accessControlPolicy": {"grants": [
        {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}, "permission": "READ"}]}},
     "gives AllUsers read access"),
    ("aws:s3/bucket:Bucket", {"grants": [
        {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "permissions": ["FULL_CONTROL"]}]},
     "gives AuthenticatedUsers read access"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{not json"}, "not valid JSON"),
])
def test_anonymously_readable_buckets_are_refused(resource_type, props, expected):
    found = violations("bucket-not-anonymously-readable", resource_type, props)
    assert len(found) == 1 and expected in found[0], found


def test_non_bucket_resources_with_public_looking_props_are_ignored():
    assert violations("bucket-not-anonymously-readable", "aws:iam/policy:Policy", {"policy": json.dumps(PUBLIC_POLICY)}) == []


def test_anonymous_read_statements_is_usable_on_plain_policy_documents():
    # The same check `marsad storage` can run on the bucket policies it writes to SeaweedFS.
    assert g.anonymous_read_statements(PUBLIC_POLICY) == ["bucket policy PublicRead lets anyone read"]
    assert g.anonymous_read_statements({"Statement": []}) == []


# --- tls-on-every-endpoint --------------------------------------------------------------------


@pytest.mark.parametrize("props", [
    {"endpoint": "https://pve1.onm.example:8006/", "insecure": False, "minTls": "1.3"},
    {"marsad_oidc_issuer": "https://login.marsad.onm.example/realms/marsad"},
    {"urls": ["https://a.example", "https://b.example"]},
    {"portal_url": "http://127.0.0.1:8000", "metrics_url": "http://localhost:9100/metrics"},  # loopback stays on the machine
    {"marsad_database_url": "postgresql+psycopg://marsad@db1/marsad?sslmode=verify-full"},
    {"marsad_s3_endpoint": "10.20.0.12:8333", "marsad_s3_secure": True},   # host:port: the switch says TLS
    {"marsad_apt_mirror_url": "http://deb.debian.org/debian"},              # signed by apt: allowed by default
    {"marsad_http_proxy": "http://10.213.13.1:3142"},
    {"description": "see http://example.org for details"},                  # prose, not an endpoint key
])
def test_tls_endpoints_pass(props):
    assert violations("tls-on-every-endpoint", "proxmoxve:index/vmLegacy:VmLegacy", props) == []


@pytest.mark.parametrize("props, expected", [
    ({"endpoint": "http://pve1.onm.example:8006/"}, "endpoint: http://pve1.onm.example:8006/ is plaintext http"),
    ({"insecure": True}, "insecure: certificate verification is off"),
    ({"minTls": "1.1"}, "minTls: TLS 1.1 is below 1.2"),
    ({"vars": {"marsad_s3_secure": False}}, "vars.marsad_s3_secure: TLS is off"),
    ({"tls": False}, "tls: TLS is off"),
    ({"insecure": "true"}, "insecure: certificate verification is off"),   # provider config: strings
    ({"nested": {"keycloak_url": "http://10.20.0.13:8080"}}, "nested.keycloak_url: http://10.20.0.13:8080 is plaintext http"),
    ({"endpoints": ["https://ok.example", "ws://events.example"]}, "endpoints[1]: ws://events.example is plaintext ws"),
    ({"redis_url": "redis://10.0.0.5:6379/0"}, "plaintext redis"),
    ({"marsad_database_url": "postgresql://marsad@db1/marsad"}, "sslmode=prefer"),
    ({"marsad_database_url": "postgres://db1/marsad?sslmode=allow"}, "sslmode=allow"),
])
def test_plaintext_endpoints_are_refused(props, expected):
    found = violations("tls-on-every-endpoint", "pulumi:providers:proxmoxve", props)
    assert len(found) == 1 and expected in found[0], found


def test_tls_policy_config_relaxes_only_what_it_names():
    props = {"insecure": True, "lab_mirror_url": "http://10.0.0.1/debian", "portal_url": "http://10.0.0.2"}
    assert len(violations("tls-on-every-endpoint", "x:y:Z", props)) == 2
    relaxed = violations("tls-on-every-endpoint", "x:y:Z", props, {"allowUnverifiedTls": True, "plaintextAllowed": []})
    assert relaxed == ["lab_mirror_url: http://10.0.0.1/debian is plaintext http",
                       "portal_url: http://10.0.0.2 is plaintext http"]


def test_unknown_values_in_a_preview_are_skipped_not_fatal():
    props = {"endpoint": UNKNOWN_STRING_VALUE, "other_url": "http://10.0.0.9", "list_urls": [UNKNOWN_STRING_VALUE]}
    assert violations("tls-on-every-endpoint", "x:y:Z", props) == ["other_url: http://10.0.0.9 is plaintext http"]


# --- components and stack outputs ------------------------------------------------------------


def _resource(resource_type: str, props: dict, name: str = "r") -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(props), f"urn:pulumi:t::marsad::{resource_type}::{name}",
                          name, _opts(), None, None, [], {})


def test_stack_policy_checks_components_and_stack_outputs_only():
    resources = [
        _resource("pulumi:pulumi:Stack", {"inventory": {"all": {"vars": {"marsad_portal_url": "http://10.0.0.2"}}}}),
        _resource(g.BARE_METAL_SERVER, {"name": "app1", "disks": [{"name": "s", "size_gb": 40, "purpose": "system"}]}),
        # A custom resource: its resource policy reports it, the stack policy must not report it twice.
        _resource(VM, {"disks": vm_disks("system")}),
    ]
    found: list[tuple[str, str]] = []
    policy("outputs-keep-the-guardrails").validate(StackValidationArgs(resources), lambda m, urn=None: found.append((urn, m)))
    assert found == [
        (resources[0].urn, "tls-on-every-endpoint: inventory.all.vars.marsad_portal_url: http://10.0.0.2 is plaintext http"),
        (resources[1].urn, "machine-has-backup-disk: app1 has no backup disk: declare a disk of purpose 'backup' in hardware/"),
    ]


def test_resource_policies_leave_components_to_the_stack_policy():
    bare = {"name": "app1", "disks": [{"name": "s", "size_gb": 40, "purpose": "system"}]}
    assert violations("machine-has-backup-disk", g.BARE_METAL_SERVER, bare) == []


def test_provider_configuration_is_checked_once_per_provider():
    tls = g.resource_policy("tls-on-every-endpoint")   # a fresh policy: it remembers providers it reported
    provider = PolicyProviderResource("pulumi:providers:proxmoxve",
                                      unknown_checking_proxy({"endpoint": "http://pve1:8006/", "insecure": "false"}),
                                      "urn:pulumi:t::marsad::pulumi:providers:proxmoxve::default", "default")
    found: list[str] = []
    for name in ("vm1", "vm2"):
        tls.validate(args(VM, {"name": name}, provider=provider), lambda m, urn=None: found.append(m))
    assert found == ["provider default: endpoint: http://pve1:8006/ is plaintext http"]


def test_policies_run_through_the_sdk_analyzer_as_the_cli_calls_them():
    # The SDK's gRPC servicer, fed a request as the Pulumi engine sends it (a protobuf Struct of
    # camelCase properties): proves the wiring, not only the pure checks.
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    servicer = _PolicyAnalyzerServicer("marsad-guardrails", "0.1.0", g.policies(), EnforcementLevel.MANDATORY)
    properties = struct_pb2.Struct()
    properties.update({"nodeName": "pve1", "disks": vm_disks("system", "data")})
    provider = struct_pb2.Struct()
    provider.update({"endpoint": "https://pve1:8006/", "insecure": "true"})   # provider config arrives as strings
    request = analyzer_pb2.AnalyzeRequest(
        type=VM, properties=properties, urn="urn:pulumi:t::marsad::proxmoxve:index/vmLegacy:VmLegacy::db1", name="db1",
        provider=analyzer_pb2.AnalyzerProviderResource(type="pulumi:providers:proxmoxve", properties=provider,
                                                       urn="urn:pulumi:t::marsad::pulumi:providers:proxmoxve::default",
                                                       name="default"))
    response = servicer.Analyze(request, None)
    reported = sorted((d.policyName, d.message.splitlines()[-1]) for d in response.diagnostics)
    assert reported == [("machine-has-backup-disk", "virtual machine has no backup disk: add a disk with serial "
                                                    "'marsad-backup' (a server's disk of purpose 'backup' in hardware/ becomes one)"),
                        ("tls-on-every-endpoint", "provider default: insecure: certificate verification is off")]
