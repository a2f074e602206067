"""Connectors: how fleetroute reaches hosts."""
