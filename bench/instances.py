"""Extra instances of the deployed app unit for direct measurements: ``app@benchN``.

Each is the deployed ``<app>@.service`` template itself (same sandbox, same gunicorn config file,
same release as the active colour) with the active colour's own drop-ins: the kit delivers
secrets per colour (``<app>@<colour>.service.d/secrets.conf``: LoadCredential= lines, or
EnvironmentFile= in environment mode, naming files under ``/etc/<app>/%i/``, which link to the
colour's secret set), so each instance gets a copy of them and of ``/etc/<app>/<colour>`` (links
included), and loads exactly the secrets the active colour loads. Two drop-ins of the bench's
own: its socket listens on 127.0.0.1:<port> instead of the unix socket (wrk and h2load speak
TCP), and its command line sets the worker count and class. Nothing of the deployed colours
changes; ``remove_all`` takes every bench instance away again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from bench.remote import Container, RemoteError

PREFIX = "bench"


@dataclass(frozen=True)
class Instance:
    name: str
    port: int
    workers: int
    worker_class: str
    # More gunicorn options (they win over the config file), and a label for them.
    options: tuple[str, ...] = ()
    label: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Deployed:
    """What the active colour runs, read from the host."""

    app: str
    colour: str
    workers: int
    worker_class: str
    gunicorn_version: str
    worker_classes: tuple[str, ...]
    # The active colour's service drop-ins (secrets.conf: its secret set), copied to each instance.
    service_dropins: tuple[str, ...] = ()


def service_dropin_dir(app: str, name: str) -> str:
    return f"/etc/systemd/system/{app}@{name}.service.d"


def read_deployed(container: Container, app: str) -> Deployed:
    state = container.read(f"/var/lib/{app}/deploy.json")
    colour = re.search(r'"active":\s*"(\w+)"', state)
    if colour is None:
        raise RemoteError(f"no active colour in /var/lib/{app}/deploy.json")
    config = container.read(f"/etc/{app}/{colour[1]}/gunicorn.conf.py")
    workers = re.search(r"^workers = (\d+)", config, re.MULTILINE)
    worker_class = re.search(r'^worker_class = "([^"]+)"', config, re.MULTILINE)
    if workers is None or worker_class is None:
        raise RemoteError("workers / worker_class not found in the deployed gunicorn.conf.py")
    probe = container.run(
        f"/srv/{app}/{colour[1]}/venv/bin/python",
        "-c",
        # gunicorn's version, its worker classes, and uvicorn's own worker when installed.
        "import gunicorn, gunicorn.workers as w, importlib.util as u; print(gunicorn.__version__,"
        " *w.SUPPORTED_WORKERS, *['uvicorn_worker.UvicornWorker'] * bool(u.find_spec("
        "'uvicorn_worker')))",
    ).stdout.split()
    listing = f"cd {service_dropin_dir(app, colour[1])} 2>/dev/null && ls -1 -- *.conf 2>/dev/null"
    dropins = container.sh(f"{listing} || true").split()
    return Deployed(
        app,
        colour[1],
        int(workers[1]),
        worker_class[1],
        probe[0],
        tuple(probe[1:]),
        tuple(dropins),
    )


def _socket_dropin(port: int) -> str:
    return f"[Socket]\nListenStream=\nListenStream=127.0.0.1:{port}\n"


def _service_dropin(deployed: Deployed, instance: Instance) -> str:
    root, config = f"/srv/{deployed.app}/{instance.name}", f"/etc/{deployed.app}/{instance.name}"
    return (
        "[Service]\nExecStart=\n"
        f"ExecStart={root}/venv/bin/gunicorn --config {config}/gunicorn.conf.py "
        f"--workers {instance.workers} --worker-class {instance.worker_class} "
        + "".join(f"{option} " for option in instance.options)
        + "app.main:app\n"
    )


def _copy_script(deployed: Deployed, name: str) -> str:
    """The release link, a copy of the colour's configuration directory (its links to the secret
    set included) and of its service drop-ins (the secrets it loads)."""
    app, colour = deployed.app, deployed.colour
    source, target = service_dropin_dir(app, colour), service_dropin_dir(app, name)
    lines = [
        f'ln -sfn "$(readlink -f /srv/{app}/{colour})" /srv/{app}/{name}',
        f"rm -rf /etc/{app}/{name} && cp -a /etc/{app}/{colour} /etc/{app}/{name}",
        f"rm -rf {target} && mkdir -p {target}",
    ]
    lines += [f"cp -a {source}/{dropin} {target}/{dropin}" for dropin in deployed.service_dropins]
    return "\n".join(lines)


def create(container: Container, deployed: Deployed, instances: list[Instance]) -> None:
    """Links, configuration copies and drop-ins of every instance, then one daemon-reload."""
    for instance in instances:
        container.sh(_copy_script(deployed, instance.name))
        unit = f"/etc/systemd/system/{deployed.app}@{instance.name}"
        container.write(f"{unit}.socket.d/bench.conf", _socket_dropin(instance.port))
        container.write(f"{unit}.service.d/bench.conf", _service_dropin(deployed, instance))
    container.run("systemctl", "daemon-reload")


def start_all(container: Container, app: str, pool: list[Instance], timeout: float = 90.0) -> None:
    """Start every instance at once, then wait until each answers /health/ready."""
    units = [f"{app}@{i.name}.{kind}" for i in pool for kind in ("socket", "service")]
    container.run("systemctl", "start", "--no-block", *units, timeout=60)
    deadline = time.monotonic() + timeout
    for instance in pool:
        wait_ready(container, app, instance, max(1.0, deadline - time.monotonic()))


def wait_ready(container: Container, app: str, instance: Instance, timeout: float) -> None:
    units = [f"{app}@{instance.name}.socket", f"{app}@{instance.name}.service"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = container.run(
            "curl", "-fsS", "--max-time", "2", f"{instance.url}/health/ready", check=False
        )
        if probe.returncode == 0:
            return
        time.sleep(0.3)
    journal = container.run(
        "journalctl", "-u", units[1], "-n", "30", "--no-pager", check=False
    ).stdout
    raise RemoteError(f"{units[1]} did not answer /health/ready within {timeout:.0f}s\n{journal}")


def rss_kib(container: Container, app: str, instance: Instance) -> int:
    """Resident memory of the instance's master and workers together (KiB, from /proc)."""
    script = (
        f"main=$(systemctl show --property MainPID --value {app}@{instance.name}.service)\n"
        '[ "$main" != 0 ]\n'
        'for pid in $main $(pgrep -P "$main"); do\n'
        "  awk '/^VmRSS:/ {print $2}' /proc/$pid/status\n"
        "done"
    )
    return sum(int(line) for line in container.sh(script).split())


def process_count(container: Container, app: str, instance: Instance) -> int:
    main = container.run(
        "systemctl", "show", "--property", "MainPID", "--value", f"{app}@{instance.name}.service"
    ).stdout.strip()
    children = container.run("pgrep", "-P", main, check=False).stdout.split()
    return 1 + len(children)


def remove_all(container: Container, app: str) -> None:
    """Stop and remove every bench instance (also those a failed run left behind)."""
    container.sh(
        f"units=$(systemctl list-units --all --plain --no-legend '{app}@{PREFIX}*' "
        "| awk '{print $1}')\n"
        '[ -z "$units" ] || systemctl stop $units\n'
        f"rm -rf /etc/systemd/system/{app}@{PREFIX}*.socket.d "
        f"/etc/systemd/system/{app}@{PREFIX}*.service.d /etc/{app}/{PREFIX}* /srv/{app}/{PREFIX}*\n"
        "systemctl daemon-reload\n"
        f"systemctl reset-failed '{app}@{PREFIX}*' 2>/dev/null || true",
        timeout=120,
    )
