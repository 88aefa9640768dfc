"""The policy pack Pulumi loads: `pulumi preview --policy-pack infra/policy` (see infra/README.md)."""
from pulumi_policy import EnforcementLevel, PolicyPack

import guardrails  # this folder is the program's directory, hence on sys.path

PolicyPack(
    name="marsad-guardrails",
    policies=guardrails.policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
)
