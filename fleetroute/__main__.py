"""Allow ``python -m fleetroute``."""

from fleetroute.cli.main import run

run()
