"""Jinja filters for Marsad's roles, computed on the control machine from the repository.

- ``seed | marsad_institution_credentials(policies_dir)``: each institution's (and unit's) S3
  key pair, derived from one secret seed, so that deployments are repeatable (the same seed
  gives the same keys; `marsad storage sync` then has nothing to do) and only the seed is stored.
- ``secret | marsad_derive(label)``: any other secret derived from a seed.
"""
from __future__ import annotations

import hashlib
import hmac


def marsad_derive(seed: str, label: str, length: int = 40) -> str:
    if not seed:
        raise ValueError("marsad_derive: empty seed (see services.hardware.SECRETS)")
    return hmac.new(seed.encode(), label.encode(), hashlib.sha256).hexdigest()[:length]


def marsad_institution_credentials(seed: str, policies_dir: str | None = None) -> dict:
    from services.policy import load_policies

    policies = load_policies(policies_dir)
    return {
        code: {
            "access_key": "MI" + marsad_derive(seed, f"access:{code}", 18).upper(),
            "secret_key": marsad_derive(seed, f"secret:{code}", 40),
        }
        for code in sorted(policies.agreements)
    }


class FilterModule:
    def filters(self):
        return {"marsad_derive": marsad_derive, "marsad_institution_credentials": marsad_institution_credentials}
