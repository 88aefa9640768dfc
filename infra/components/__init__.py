"""Marsad's Pulumi components: one ComponentResource per tier (Servers, Secrets)."""
from .secrets import Secrets
from .servers import BareMetalServer, Servers
from .stack import marsad_stack

__all__ = ["BareMetalServer", "Secrets", "Servers", "marsad_stack"]
