"""Bash scripts that fleetroute runs on hosts, loaded from ``templates/remote/``.

They are plain scripts, not Jinja templates: every value reaches them as a
positional argument, so nothing from the inventory is ever pasted into their text.
"""

from __future__ import annotations

from functools import cache

from fleetroute.render import template_env


@cache
def remote_script(name: str) -> str:
    """Return the text of ``templates/remote/NAME``.

    Raises ``jinja2.TemplateNotFound`` when the package was installed without its templates.
    """
    env = template_env()
    source, _, _ = env.loader.get_source(env, f"remote/{name}")
    return source
