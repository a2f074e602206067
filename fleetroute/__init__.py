"""fleetroute: put a GPU/CPU job router in front of a workload on every host of a fleet."""

__version__ = "0.1.0"
