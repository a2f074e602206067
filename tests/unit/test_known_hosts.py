"""Reading known_hosts files: plain, hashed and pattern names, unreadable lines, @revoked and @cert-authority."""

from __future__ import annotations

import logging

import pytest
from paramiko.hostkeys import HostKeys

from fleetroute.connectors.known_hosts import known_host_name, lookup, match_host, names_match


def key_line(name: str) -> str:
    return f"{name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNzjbW6g5Xx0ygGpKgRUfl9b3pQ0mCkR9g7m8L3r7cN\n"


def lines_of(match):
    return [(path, number) for _, path, number in match.keys]


def test_plain_entry_found(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("# comment\n" + key_line("other") + key_line("[127.0.42.1]:2222"))
    assert lines_of(match_host([known], "[127.0.42.1]:2222")) == [(known, 3)]


def test_hashed_entry_found(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(key_line(HostKeys.hash_host("gpu-01")))
    assert lines_of(match_host([known], "gpu-01")) == [(known, 1)]
    assert lines_of(match_host([known], "gpu-02")) == []


def test_second_file_and_missing_file(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    second.write_text("garbage line\n" + key_line("gpu-01,192.0.2.1"))
    assert lines_of(match_host([first, second], "192.0.2.1")) == [(second, 2)]


ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIHNzjbW6g5Xx0ygGpKgRUfl9b3pQ0mCkR9g7m8L3r7cN"
OTHER = "AAAAC3NzaC1lZDI1NTE5AAAAIBXyGvYx1nVtgPBEa8YcLQ6AXOi8nbWO7UkPgzq3Y0pT"


def write_known(tmp_path, *lines: str):
    path = tmp_path / "known_hosts"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("names", "hostname", "expected"),
    [
        ("[127.0.42.1]:*", "[127.0.42.1]:2222", True),
        ("[127.0.42.1]:*", "[127.0.42.2]:2222", False),
        ("*.gpu.example.com", "node7.gpu.example.com", True),
        ("node?.gpu.example.com", "node12.gpu.example.com", False),
        ("*.gpu.example.com,!bad.gpu.example.com", "bad.gpu.example.com", False),
        ("!bad.gpu.example.com,*.gpu.example.com", "good.gpu.example.com", True),
        ("GPU-01", "gpu-01", True),
        ("gpu-01", "gpu-011", False),
    ],
)
def test_host_patterns(names, hostname, expected):
    assert names_match(names.split(","), hostname) is expected


def test_unreadable_lines_skipped(tmp_path, caplog):
    path = write_known(
        tmp_path,
        "@cert-authority *.corp.example ssh-ed25519 " + OTHER,
        "gpu-01 ssh-ed25519",
        "gpu-01 ssh-ed25519 not*base64",
        "@weird gpu-01 ssh-ed25519 " + OTHER,
        "gpu-01 ssh-ed25519 " + ED25519,
    )

    with caplog.at_level(logging.WARNING, logger="fleetroute.connectors.known_hosts"):
        match = match_host([path], "gpu-01")

    assert [key.get_base64() for key, _, _ in match.keys] == [ED25519]
    assert match.keys[0][2] == 5
    warned = {record.getMessage().split(": skipping")[0] for record in caplog.records}
    assert warned == {f"{path}:2", f"{path}:3", f"{path}:4"}


def test_revoked_key_excluded(tmp_path):
    path = write_known(tmp_path, "gpu-01 ssh-ed25519 " + ED25519, "@revoked * ssh-ed25519 " + ED25519)

    match = match_host([path], "gpu-01")

    assert match.keys == []
    assert match.revoked == {ED25519}


def test_cert_authority_counted(tmp_path):
    path = write_known(tmp_path, "@cert-authority *.corp.example ssh-ed25519 " + OTHER)

    assert match_host([path], "gpu.corp.example").cert_authority_lines == 1
    assert match_host([path], "gpu.other.example").cert_authority_lines == 0


def test_known_host_name_port():
    assert known_host_name("gpu-01", 22) == "gpu-01"
    assert known_host_name("127.0.42.1", 2222) == "[127.0.42.1]:2222"


def test_every_key_of_one_type_kept(tmp_path):
    path = write_known(tmp_path, "[gpu-01]:2222 ssh-ed25519 " + ED25519, "[gpu-*]:2222 ssh-ed25519 " + OTHER)

    match = match_host([path], "[gpu-01]:2222")

    assert [key.get_base64() for key, _, _ in match.keys] == [ED25519, OTHER]
    assert match.key_types() == ["ssh-ed25519"]


def test_lookup_falls_back_to_portless(tmp_path):
    path = write_known(tmp_path, "gpu-01 ssh-ed25519 " + ED25519)

    name, match = lookup([path], "gpu-01", 2222)

    assert name == "[gpu-01]:2222"
    assert lines_of(match) == []
    assert [(path, number) for _, path, number in match.portless_keys] == [(path, 1)]
    assert match.key_types() == ["ssh-ed25519"]


def test_lookup_port_entry_wins(tmp_path):
    path = write_known(tmp_path, "gpu-01 ssh-ed25519 " + ED25519, "[gpu-01]:2222 ssh-ed25519 " + OTHER)

    _, match = lookup([path], "gpu-01", 2222)

    assert lines_of(match) == [(path, 2)]


def test_lookup_host_key_alias(tmp_path):
    path = write_known(tmp_path, "myalias ssh-ed25519 " + ED25519)

    name, match = lookup([path], "127.0.42.1", 2222, alias="myalias")

    assert name == "myalias"
    assert lines_of(match) == [(path, 1)]
