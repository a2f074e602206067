"""Facts: what fleetroute reads from a host (GPUs, memory, install state)."""
