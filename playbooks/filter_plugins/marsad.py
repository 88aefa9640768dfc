"""Jinja filters for Marsad's roles, computed on the control machine from the repository.

- ``seed | marsad_institution_credentials(policies_dir)``: each institution's (and unit's) S3
  key pair, derived from one secret seed, so that deployments are repeatable (the same seed
  gives the same keys; `marsad storage sync` then has nothing to do) and only the seed is stored.
- ``secret | marsad_derive(label)``: any other secret derived from a seed.

Both come from services.s3keys, the one function behind every institution's keys. It needs
only the standard library, so it is loaded by path from this plugin's own checkout: Ansible's
Python may have no Marsad installed, or another checkout's (whose keys could differ).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "marsad_s3keys", Path(__file__).resolve().parents[2] / "services" / "s3keys.py")
_s3keys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_s3keys)
marsad_derive = _s3keys.derive


def marsad_institution_credentials(seed: str, policies_dir: str | None = None) -> dict:
    from services.policy import load_policies

    policies = load_policies(policies_dir)
    return {code: _s3keys.institution_keys(seed, code) for code in sorted(policies.agreements)}


class FilterModule:
    def filters(self):
        return {"marsad_derive": marsad_derive, "marsad_institution_credentials": marsad_institution_credentials}
