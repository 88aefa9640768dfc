"""The `Secrets` tier: every credential a deployment needs, generated once by pulumi_random.

Names come from their sources of truth, never from here: the inventory's secrets from
services.hardware.SECRETS (the lab generates the same names), the institutions from policies/,
the OpenID Connect client ids from services.identity.realm (what `marsad identity sync` creates).

Every value leaves this component wrapped in Output.secret. pulumi_random marks `result` secret
itself, but only through the engine (additionalSecretOutputs); wrapping here keeps them secret
whatever engine or mock runs the program, and the tests can prove it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pulumi
import pulumi_random as random

from services import hardware
from services.s3keys import institution_keys
from services.identity.realm import RealmSettings, api_client_id

TYPE = "marsad:infra:Secrets"
# Access keys appear in consoles and logs: short, upper-case and digits, like the lab's.
ACCESS_KEY = {"length": 20, "special": False, "lower": False, "upper": True, "numeric": True}
# Everything else: 43 characters of the URL-safe alphabet (about 256 bits, as the lab's
# token_urlsafe(32)); "-" and "_" only, so a password needs no escaping in a database URL.
SECRET = {"length": 43, "special": True, "override_special": "-_"}


def oidc_client_ids(agreements: Sequence[str], settings: RealmSettings | None = None) -> list[str]:
    """The portal's client, then one API client per institution or unit with an agreement."""
    settings = settings or RealmSettings()
    return [settings.portal_client_id, *(api_client_id(settings, code) for code in agreements)]


class Secrets(pulumi.ComponentResource):
    """Credentials of one environment.

    inventory_secrets:  {name in services.hardware.SECRETS: secret}; database passwords
                        (postgresql_<service>_password) and the Keycloak admin password among them
    database_passwords: {service: secret}, the same values, by service
    institution_s3_keys: {institution code: {access_key, secret_key}}, derived from the inventory's
                        objectstore_identity_seed by services.s3keys: the keys the deployment's
                        `marsad storage sync` installs (never random ones of their own)
    oidc_client_secrets: {client id: secret} (empty when the environment has no Keycloak)
    """

    def __init__(self, name: str, *, institutions: Sequence[str], oidc_clients: Sequence[str] = (),
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, {"institutions": list(institutions), "oidc_clients": list(oidc_clients)}, opts)
        child = pulumi.ResourceOptions(parent=self)

        def generated(resource_name: str, shape: Mapping) -> pulumi.Output[str]:
            password = random.RandomPassword(resource_name, opts=child, **shape)
            return pulumi.Output.secret(password.result)

        self.inventory_secrets = {
            secret: generated(secret, ACCESS_KEY if secret.endswith("_access_key") else SECRET)
            for secret in hardware.SECRETS
        }
        self.database_passwords = {
            secret.removeprefix("postgresql_").removesuffix("_password"): value
            for secret, value in self.inventory_secrets.items()
            if secret.startswith("postgresql_") and secret.endswith("_password")
        }
        self.keycloak_admin_password = self.inventory_secrets["keycloak_admin_password"]
        seed = self.inventory_secrets["objectstore_identity_seed"]
        self.institution_s3_keys = {
            code: {part: pulumi.Output.secret(seed.apply(lambda s, c=code, p=part: institution_keys(s, c)[p]))
                   for part in ("access_key", "secret_key")}
            for code in institutions
        }
        self.oidc_client_secrets = {client: generated(f"oidc-client-secret-{client}", SECRET)
                                    for client in oidc_clients}
        self.register_outputs({
            "inventory_secrets": self.inventory_secrets,
            "institution_s3_keys": self.institution_s3_keys,
            "oidc_client_secrets": self.oidc_client_secrets,
        })
