"""The ssh role against a real OpenSSH server (side effect, undone at the end).

The containers have no sshd, so site.yml's ssh role (ssh_hardening_enabled: auto) leaves them
alone (test_default.py). A VM has one: here openssh-server is installed from Debian's archive,
a cloud-init style drop-in that allows passwords and root logins is planted, and the operator's
playbook runs the role (`playbooks/base.yml --tags ssh -e ssh_hardening_enabled=true`). Then
sshd's effective settings and a real login over 127.0.0.1 show passwords refused and root by key
only; a second run changes nothing. Afterwards the package, the keys and the drop-ins are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kit_harness.playbooks import run_playbook

DROPIN = "/etc/ssh/sshd_config.d/00-kit-hardening.conf"
# What cloud-init writes on many images (it comes after the kit's 00- file in sshd's order).
CLOUD_INIT = "/etc/ssh/sshd_config.d/50-cloud-init.conf"
KEY = "/root/kit-ssh-test-key"
AUTHORIZED = "/root/.ssh/authorized_keys"
# apt waits for a lock another apt (a daily timer) holds instead of failing at once, and retries
# a download the Debian mirror drops.
APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -o Acquire::Retries=3 -y -qq"
)
SSH = (
    "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    " -o ConnectTimeout=10"
)


def _effective(host: Any) -> dict[str, str]:
    """sshd's effective settings for a root login from 127.0.0.1 (`sshd -T`)."""
    out = host.check_output("sshd -T -C user=root,host=localhost,addr=127.0.0.1")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _methods_offered(host: Any) -> str:
    """The methods the server offers a client without a key ("publickey,password", ...)."""
    result = host.run(f"{SSH} -o PubkeyAuthentication=no root@127.0.0.1 true")
    assert result.rc == 255, result.stdout + result.stderr
    found = re.search(r"Permission denied \(([^)]*)\)", result.stderr)
    assert found, result.stderr
    return found.group(1)


@pytest.fixture(scope="module")
def sshd(host: Any) -> Iterator[Any]:
    """openssh-server installed and running, with a root key and a permissive cloud-init drop-in."""
    host.check_output(
        f"{APT} update && {APT} install --no-install-recommends openssh-server >/dev/null"
    )
    host.check_output(
        f"printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > {CLOUD_INIT}"
        f" && ssh-keygen -q -t ed25519 -N '' -C kit-ssh-test-key -f {KEY}"
        f" && install -d -m 0700 /root/.ssh && cat {KEY}.pub >> {AUTHORIZED}"
        " && systemctl restart ssh.service"
    )
    try:
        yield host
    finally:
        host.run(
            f"{APT} purge openssh-server openssh-sftp-server >/dev/null;"
            f" rm -f {DROPIN} {CLOUD_INIT} {KEY} {KEY}.pub;"
            f" sed -i '/ kit-ssh-test-key$/d' {AUTHORIZED} 2>/dev/null;"
            f" [ -s {AUTHORIZED} ] || rm -f {AUTHORIZED}; rmdir /root/.ssh 2>/dev/null"
        )


def test_the_role_refuses_passwords_and_allows_root_by_key_only(sshd: Any) -> None:
    name = sshd.backend.get_hostname()
    before = _effective(sshd)
    assert before["passwordauthentication"] == "yes"
    assert before["permitrootlogin"] == "yes"
    assert "password" in _methods_offered(sshd).split(",")

    first = run_playbook(
        "playbooks/base.yml", "--tags", "ssh", "-e", "ssh_hardening_enabled=true", limit=name
    )
    assert re.search(rf"^{re.escape(name)}\s+:.*changed=[1-9]", first.stdout, re.M), first.stdout
    assert sshd.file(DROPIN).mode == 0o644
    assert "PasswordAuthentication no" in sshd.file(DROPIN).content_string

    after = _effective(sshd)
    assert after["passwordauthentication"] == "no"
    assert after["kbdinteractiveauthentication"] == "no"
    assert after["permitrootlogin"] == "without-password"  # sshd -T's name for prohibit-password
    # The running server (reloaded by the role's handler) offers keys alone now.
    assert _methods_offered(sshd) == "publickey"
    assert sshd.check_output(f"{SSH} -i {KEY} root@127.0.0.1 echo logged-in-by-key") == (
        "logged-in-by-key"
    )

    again = run_playbook(
        "playbooks/base.yml", "--tags", "ssh", "-e", "ssh_hardening_enabled=true", limit=name
    )
    assert re.search(rf"^{re.escape(name)}\s+:.*changed=0\b", again.stdout, re.M), again.stdout
