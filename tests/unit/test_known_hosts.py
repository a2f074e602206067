"""Finding a host's line in known_hosts files, plain and hashed."""

from __future__ import annotations

from paramiko.hostkeys import HostKeys

from fleetroute.connectors.ssh import find_known_host_line



def key_line(name: str) -> str:
    return f"{name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNzjbW6g5Xx0ygGpKgRUfl9b3pQ0mCkR9g7m8L3r7cN\n"


def test_plain_entry_found(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("# comment\n" + key_line("other") + key_line("[127.0.42.1]:2222"))
    assert find_known_host_line([known], "[127.0.42.1]:2222") == (known, 3)


def test_hashed_entry_found(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(key_line(HostKeys.hash_host("gpu-01")))
    assert find_known_host_line([known], "gpu-01") == (known, 1)
    assert find_known_host_line([known], "gpu-02") is None


def test_second_file_and_missing_file(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    second.write_text("garbage line\n" + key_line("gpu-01,192.0.2.1"))
    assert find_known_host_line([first, second], "192.0.2.1") == (second, 2)
