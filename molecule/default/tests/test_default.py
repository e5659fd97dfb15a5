"""What the converged VM stand-in must show: systemd booted for real, the base role applied,
and the platform features later roles rely on (credentials, sandboxing) working."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

APP = "app"
EXTRA_CA = Path(__file__).resolve().parents[1] / "files" / "test-extra-ca.pem"


def test_systemd_is_pid_1_and_the_system_is_up(host: Any) -> None:
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert state == "running", f"system is {state}; failed units:\n{failed}"


def test_root_mount_is_shared(host: Any) -> None:
    propagation = host.check_output("findmnt -no PROPAGATION /")
    assert "shared" in propagation
    assert host.service("kit-make-rshared").is_running


def test_credentials_and_sandboxing_work(host: Any) -> None:
    """LoadCredential= and ProtectSystem= in a transient unit: what the app unit will use."""
    host.run_test("install -d -m 0700 /root/credcheck && printf s3cret > /root/credcheck/TOKEN")
    result = host.run(
        "systemd-run --quiet --wait --pipe -p LoadCredential=TOKEN:/root/credcheck/TOKEN "
        "-p DynamicUser=yes -p ProtectSystem=strict -p PrivateTmp=yes "
        "sh -c 'cat \"$CREDENTIALS_DIRECTORY/TOKEN\"'"
    )
    host.run("rm -rf /root/credcheck")
    assert result.rc == 0, result.stderr
    assert result.stdout == "s3cret"


def test_app_system_account(host: Any) -> None:
    user = host.user(APP)
    assert user.exists
    assert user.uid < 1000, "a system account"
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == f"/srv/{APP}"
    assert not user.home.startswith("/home")
    assert user.group == APP
    assert not host.file("/home/app").exists


def test_app_directories(host: Any) -> None:
    root = host.file(f"/srv/{APP}")
    assert root.is_directory
    assert root.user == "root"
    assert root.mode == 0o755
    config = host.file(f"/etc/{APP}")
    assert config.is_directory
    assert (config.user, config.group, config.mode) == ("root", APP, 0o750)


@pytest.mark.parametrize(
    "package",
    [
        "acl",
        "ca-certificates",
        "curl",
        "logrotate",
        "nftables",
        "python3-apt",
        "unattended-upgrades",
    ],
)
def test_baseline_packages(host: Any, package: str) -> None:
    assert host.package(package).is_installed


def test_journald_limits_are_in_force(host: Any) -> None:
    dropin = host.file("/etc/systemd/journald.conf.d/50-fastapi-kit.conf")
    assert dropin.contains("^SystemMaxUse=1G$")
    assert dropin.mode == 0o644
    assert host.service("systemd-journald").is_running
    # Storage=persistent took effect: the journal lives on disk, not only under /run.
    assert host.file("/var/log/journal").is_directory


def test_timesyncd_enabled(host: Any) -> None:
    assert host.service("systemd-timesyncd").is_enabled


def test_unattended_upgrades_configured(host: Any) -> None:
    config = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'APT::Periodic::Update-Package-Lists "1";' in config


def test_extra_ca_is_trusted(host: Any) -> None:
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    body = "".join(EXTRA_CA.read_text().split("-----")[2].split())
    assert body in "".join(bundle.split())


def test_published_ports_bind_loopback_only(host: Any) -> None:
    name = host.backend.get_hostname()
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{json .NetworkSettings.Ports}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    ports = json.loads(inspect.stdout)
    bindings = [b for entries in ports.values() if entries for b in entries]
    assert bindings, "the VM stand-in publishes its HTTP and HTTPS ports"
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_ssh_hardening_skips_hosts_without_sshd(host: Any) -> None:
    """The containers have no sshd: the ssh role (ssh_hardening_enabled: auto) writes nothing."""
    assert not host.file("/usr/sbin/sshd").exists
    assert not host.file("/etc/ssh/sshd_config.d/00-kit-hardening.conf").exists
