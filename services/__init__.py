"""Marsad services: the domain logic of the migration information system and its I/O adapters."""
