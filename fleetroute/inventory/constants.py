"""Names and limits of the inventory format: sections, variable aliases, Ansible's own variables, message limits."""

from __future__ import annotations

import re

SECTIONS = ("hosts", "vars", "children")
PRIORITY_VARIABLE = "ansible_group_priority"
# Local paths on the workstation: "~" is expanded and relative paths start from the
# inventory file's directory.
LOCAL_PATH_VARIABLES = ("ssh_config_file", "ansible_ssh_private_key_file")
# Older spellings that Ansible's ssh connection and sudo become plugins still read.
# fleetroute reads each one as the variable it stands for.
ALIASES = {
    "ansible_ssh_host": "ansible_host",
    "ansible_ssh_port": "ansible_port",
    "ansible_ssh_user": "ansible_user",
    "ansible_private_key_file": "ansible_ssh_private_key_file",
    # Read by ansible-core's sudo become plugin.
    "ansible_sudo_pass": "ansible_become_password",
    "ansible_sudo_user": "ansible_become_user",
}
# Values passed to ssh or a shell as one word.
SINGLE_WORD_VARIABLES = frozenset({"ansible_host", "ansible_user", "run_as"})
# Ansible's own variables, never reported as misspellings of a fleetroute variable
# even when their names are close (ansible_user_id and ansible_user, for example).
ANSIBLE_VARIABLES = frozenset(
    {
        "ansible_become",
        "ansible_become_exe",
        "ansible_become_flags",
        "ansible_become_method",
        "ansible_become_pass",
        "ansible_become_password",
        "ansible_become_user",
        "ansible_connection",
        "ansible_host_key_checking",
        "ansible_hostname",
        "ansible_network_os",
        "ansible_password",
        "ansible_pipelining",
        "ansible_python_interpreter",
        "ansible_remote_tmp",
        "ansible_scp_extra_args",
        "ansible_sftp_extra_args",
        "ansible_shell_executable",
        "ansible_shell_type",
        "ansible_ssh_args",
        "ansible_ssh_common_args",
        "ansible_ssh_executable",
        "ansible_ssh_extra_args",
        "ansible_ssh_host_key_checking",
        "ansible_ssh_pass",
        "ansible_ssh_pipelining",
        "ansible_ssh_retries",
        "ansible_ssh_timeout",
        "ansible_timeout",
        "ansible_user_id",
    }
)
SUGGESTION_CUTOFF = 0.8  # minimum difflib similarity for an unknown name to count as a typo
# flag:NAME names the flag as the job's arguments spell it, dashes included, because
# the router compares arguments with NAME and NAME= literally.
INPUT_RULE = re.compile(
    r"first-file|arg:[1-9][0-9]*|flag:--?[A-Za-z0-9][A-Za-z0-9_.-]*|env:[A-Za-z_][A-Za-z0-9_]*"
)
INPUT_RULE_FORMS = (
    "first-file, arg:N (N a whole number of at least 1), flag:NAME (the flag with its dashes,"
    " such as flag:--input) or env:VAR (a shell variable name)"
)
# A range that expands to more hosts than this is taken for a typo, such as [1:10000000].
MAX_RANGE_HOSTS = 10_000
MAX_SHOWN_CHARS = 60  # messages cut values that are longer
MAX_SHOWN_NAMES = 3  # longer lists of hosts or groups end with "and N more"
MERGE_TAG = "tag:yaml.org,2002:merge"
