"""The firewall keeps open the port sshd really listens on (plugins/filter/firewall.py)."""

from __future__ import annotations

from plugins.filter.firewall import ssh_ports_kept_open, sshd_ports

# Excerpts of `sshd -T` (Debian 12's OpenSSH 9.2).
SSHD_DEFAULT = """\
port 22
addressfamily any
listenaddress [::]:22
listenaddress 0.0.0.0:22
usepam yes
"""
SSHD_TWO_PORTS = """\
port 22
port 2200
listenaddress [::]:2200
listenaddress [::]:22
listenaddress 0.0.0.0:2200
listenaddress 0.0.0.0:22
"""
# ListenAddress 10.0.0.5:2222 with the default Port: sshd listens on 2222 only.
SSHD_LISTEN_PORT = """\
port 22
listenaddress 10.0.0.5:2222 rdomain vrf1
"""


def test_reads_the_ports_sshd_listens_on() -> None:
    assert sshd_ports(SSHD_DEFAULT) == [22]
    assert sshd_ports(SSHD_TWO_PORTS) == [22, 2200]
    assert sshd_ports(SSHD_LISTEN_PORT) == [2222]


def test_port_lines_count_without_listen_addresses() -> None:
    assert sshd_ports("Port 2022\nport 22\nx11forwarding no\n") == [22, 2022]


def test_no_port_when_sshd_is_absent_or_broken() -> None:
    assert sshd_ports("") == []
    assert sshd_ports("/etc/ssh/sshd_config line 3: Bad configuration option: Prot\n") == []
    # Only "port N" lines: not gatewayports, not a port out of range.
    assert sshd_ports("gatewayports no\nport 0\nport 70000\n") == []


def test_the_port_sshd_listens_on_is_kept_over_a_forwarded_connection_port() -> None:
    # Vagrant: Ansible connects to 127.0.0.1:2222, forwarded to sshd's 22, which is open already.
    assert ssh_ports_kept_open([22], open_ports=[22, 80, 443], rules=[], connection_port=2222) == []


def test_an_ssh_port_the_operator_left_out_is_kept_open() -> None:
    assert ssh_ports_kept_open([22], open_ports=[80, 443], rules=[], connection_port=22) == [22]
    assert ssh_ports_kept_open([22, 2200], open_ports=[22], rules=[]) == [2200]


def test_a_tcp_rule_restricting_the_ssh_port_is_left_as_the_operator_set_it() -> None:
    bastion = [{"port": 22, "sources": ["198.51.100.0/24"]}]
    assert ssh_ports_kept_open([22], open_ports=[80, 443], rules=bastion) == []
    tcp = [{"port": 22, "sources": ["198.51.100.0/24"], "proto": "tcp"}]
    assert ssh_ports_kept_open([22], open_ports=[80, 443], rules=tcp) == []
    udp = [{"port": 22, "sources": ["198.51.100.0/24"], "proto": "udp"}]
    assert ssh_ports_kept_open([22], open_ports=[80, 443], rules=udp) == [22]


def test_without_sshd_the_connection_port_is_kept_and_otherwise_nothing() -> None:
    # sshd not readable, Ansible over SSH: the port it connects to is the best knowledge.
    assert ssh_ports_kept_open([], open_ports=[80, 443], rules=[], connection_port=2222) == [2222]
    # Not over SSH (docker, local) and no sshd: no SSH port to keep.
    assert ssh_ports_kept_open([], open_ports=[80, 443], rules=[], connection_port=None) == []
