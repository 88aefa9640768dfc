"""Jinja filters for Marsad's roles, computed on the control machine from the repository.

- ``seed | marsad_institution_credentials(policies_dir)``: each institution's (and unit's) S3
  key pair, derived from one secret seed, so that deployments are repeatable (the same seed
  gives the same keys; `marsad storage sync` then has nothing to do) and only the seed is stored.
- ``secret | marsad_derive(label)``: any other secret derived from a seed.

Both come from services.s3keys (standard library only), imported from the repository: Ansible
runs on the control machine from a checkout, where `services` is importable (the plugin already
needs services.policy). The repository root is put on sys.path when Ansible's Python lacks it.
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    from services.s3keys import derive as marsad_derive, institution_keys
except ImportError:   # ansible-playbook run from the checkout without Marsad installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from services.s3keys import derive as marsad_derive, institution_keys


def marsad_institution_credentials(seed: str, policies_dir: str | None = None) -> dict:
    from services.policy import load_policies

    policies = load_policies(policies_dir)
    return {code: institution_keys(seed, code) for code in sorted(policies.agreements)}


class FilterModule:
    def filters(self):
        return {"marsad_derive": marsad_derive, "marsad_institution_credentials": marsad_institution_credentials}
