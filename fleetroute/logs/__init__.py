"""Router log statistics: line parser, aggregates, tuning advice and report formats.

The host side of ``fleetroute log-stats`` (``templates/remote/logstats.sh`` and
``logstats.awk``) reduces a host's log files to the aggregate records that
``fleetroute.logs.stats.read_awk_output`` reads. ``fleetroute.logs.parse`` is the same
line grammar in Python, used when a host has no working awk and in tests.
"""
