"""WebSockets through nginx, on each host (side effect: one switch, the scenario's last step).

A client on the controller reaches the reference app's echo route (``/v1/ws/echo``, under the
scenario's ``nginx_websocket_locations``) over TLS through each host's published port: nginx passes
the upgrade (``Upgrade``, ``Connection: upgrade``) and messages echo. Then one WebSocket a host is
held open, sending a message every INTERVAL, across a deploy that switches colours (a changed
``app_env``, ``app_drain_seconds`` DRAIN_SECONDS): it keeps echoing through the drain, and the old
colour's graceful stop closes it (code 1012, service restart) no sooner than DRAIN_SECONDS after
the switch. The hosts keep the changed app_env: this module is the scenario's last.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from kit_harness.playbooks import run_playbook
from kit_harness.results import record_result
from kit_harness.steps import SERVER_NAME, Node
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

ECHO = "/v1/ws/echo"
DRAIN_SECONDS = 5
# Printed once the traffic moved to the new colour (the switch), before the drain's wait.
DRAIN_TASK = "TASK [app : Let the old colour drain"
# Seconds between two messages of a held WebSocket.
INTERVAL = 0.2


def _connect(node: Node) -> ClientConnection:
    """A WebSocket to the echo route through the host's published port: TLS verified against the
    host's Pebble root, SNI and Host app.kit.test, no proxy. Use it as a context manager."""
    context = ssl.create_default_context(cafile=node.cafile)
    raw = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    try:
        return connect(
            f"wss://{SERVER_NAME}{ECHO}",
            sock=raw,
            ssl=context,
            server_hostname=SERVER_NAME,
            proxy=None,
            open_timeout=10,
            close_timeout=5,
        )
    except BaseException:
        raw.close()
        raise


def test_messages_echo_through_nginx_over_tls(nodes: list[Node]) -> None:
    for node in nodes:
        with _connect(node) as websocket:
            assert websocket.response is not None
            assert websocket.response.status_code == 101
            assert websocket.response.headers["Server"] == "nginx"
            for message in ("hello", "", "x" * 65536, json.dumps({"host": node.name})):
                websocket.send(message)
                assert websocket.recv(timeout=10) == message
            assert websocket.ping().wait(10), f"{node.name}: no pong"


@dataclass
class Held:
    """A WebSocket a thread holds open, echoing a message every INTERVAL until it is closed or
    ``stop`` is set: when each message came back, when and how the connection closed."""

    node: Node
    stop: threading.Event = field(default_factory=threading.Event)
    echoes: list[float] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None
    error: str = ""

    def run(self) -> None:
        number = 0
        try:
            with _connect(self.node) as websocket:
                while not self.stop.is_set():
                    number += 1
                    message = f"{self.node.name} {number}"
                    websocket.send(message)
                    if websocket.recv(timeout=10) != message:
                        self.error = f"message {number} did not come back"
                        return
                    self.echoes.append(time.monotonic())
                    self.stop.wait(INTERVAL)
        except ConnectionClosed as closed:
            self.closed_at = time.monotonic()
            self.close_code = closed.rcvd.code if closed.rcvd else None
        except (OSError, TimeoutError) as error:
            self.error = repr(error)


def test_an_open_websocket_stays_open_until_the_drain_ends(nodes: list[Node]) -> None:
    before = {node.name: node.state()["colours"][node.active()] for node in nodes}
    held = [Held(node) for node in nodes]
    threads = [threading.Thread(target=h.run, daemon=True) for h in held]
    for thread in threads:
        thread.start()
    # Each echoes before the deploy starts.
    deadline = time.monotonic() + 15
    while not all(h.echoes or h.error or h.closed_at for h in held):
        assert time.monotonic() < deadline, "no echo within 15 s"
        time.sleep(0.1)
    assert all(h.echoes for h in held), [(h.node.name, h.error, h.close_code) for h in held]

    switches: list[float] = []

    def on_line(line: str) -> None:
        if line.startswith(DRAIN_TASK):
            switches.append(time.monotonic())

    started = time.monotonic()
    try:
        deploy = run_playbook(
            "playbooks/deploy.yml",
            "-e",
            json.dumps(
                {"app_env": {"KIT_WEBSOCKET_TEST": "drain"}, "app_drain_seconds": DRAIN_SECONDS}
            ),
            on_line=on_line,
        )
        ended = time.monotonic()
    finally:
        for h in held:
            h.stop.set()
        for thread in threads:
            thread.join(15)
    assert deploy.returncode == 0
    assert switches, deploy.stdout[-3000:]
    figures = {}
    for h in held:
        name = h.node.name
        assert not h.error, f"{name}: {h.error}"
        assert h.closed_at is not None, f"{name}: still open after the deploy"
        # The switch on this host came before the last drain header printed before its close.
        before_close = [at for at in switches if at < h.closed_at]
        assert before_close, f"{name}: closed before the switch"
        switch = before_close[-1]
        assert h.close_code == 1012, f"{name}: closed with {h.close_code}"
        assert h.closed_at - switch >= DRAIN_SECONDS, f"{name}: {h.closed_at - switch:.2f} s"
        assert h.closed_at <= ended + 1, f"{name}: closed after the deploy"
        # Messages echoed throughout the drain (a message every INTERVAL): at least one a second,
        # the last in its last second.
        during = [at for at in h.echoes if at >= switch]
        assert len(during) >= DRAIN_SECONDS, f"{name}: {len(during)} echoes during the drain"
        assert during[-1] >= switch + DRAIN_SECONDS - 1, f"{name}: last echo {during[-1] - switch}"
        figures[name] = {
            "closed_after_switch_s": round(h.closed_at - switch, 2),
            "echoes_during_drain": len(during),
            "close_code": h.close_code,
        }

    # The hosts keep the changed app_env: this is the scenario's last step (its verify ends here,
    # then the hosts are destroyed), so no second switch puts it back.
    assert all(node.state()["colours"][node.active()] != before[node.name] for node in nodes)
    record_result(
        "websockets",
        {
            "step": f"WebSocket held across a deploy, drain {DRAIN_SECONDS} s",
            "host": ",".join(sorted(figures)),
            "seconds": round(time.monotonic() - started, 1),
            "deploy_seconds": round(ended - started, 1),
            "hosts": figures,
        },
    )
