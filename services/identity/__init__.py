"""Who a caller is when Keycloak (or, in the demo, a local API token) says so.

- `claims`: Keycloak token claims -> Principal, and the group convention the realm follows.
- `keycloak`: a realm's published keys and the checks every Keycloak token passes.
- `api_tokens`: local API tokens for the demo and sandboxes, stored as hashes only.
"""
from services.identity.claims import ClaimsRefused, group_path, principal_from_claims

__all__ = ["ClaimsRefused", "group_path", "principal_from_claims"]
