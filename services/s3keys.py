"""The one way to make an institution's S3 key pair: derived by HMAC-SHA256 from a seed.

Standard library only, because three callers load it: the Ansible filter plugin (inside
Ansible's Python, on the control machine), the Pulumi program (infra/components/secrets.py) and
`marsad storage sync` (services.storage_access). The same seed and institution give the same
keys everywhere, so the keys Pulumi reports are the keys the deployment installs.
"""
from __future__ import annotations

import hashlib
import hmac


def derive(seed: str, label: str, length: int = 40) -> str:
    """`length` hex characters of HMAC-SHA256(seed, label): a secret reproducible from the seed."""
    if not seed:
        raise ValueError("marsad_derive: empty seed (see services.hardware.SECRETS)")
    return hmac.new(seed.encode(), label.encode(), hashlib.sha256).hexdigest()[:length]


def institution_keys(seed: str, code: str) -> dict[str, str]:
    """{access_key, secret_key} of institution (or unit) `code`: a 20-character access key in
    upper case and digits, as S3 keys look, and a 40-character secret key."""
    return {"access_key": "MI" + derive(seed, f"access:{code}", 18).upper(),
            "secret_key": derive(seed, f"secret:{code}", 40)}
