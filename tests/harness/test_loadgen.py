"""The load generator's counting, against a real local HTTPS server that switches versions."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kit_harness import loadgen

NAME = "load.kit.test"


class _State:
    version = "v1"
    fail_posts = False
    delay = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        time.sleep(_State.delay)
        if self.path == "/version":
            self._answer(200, {"version": _State.version})
        elif self.path.startswith("/v1/me"):
            accepted = self.headers.get("Authorization") == "Bearer right-token"
            self._answer(200 if accepted else 401, {})
        else:
            self._answer(200, [])

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(500 if _State.fail_posts else 201, {"id": 1})

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "cert.pem"
    key_file = tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _State.version, _State.fail_posts, _State.delay = "v1", False, 0.0
    try:
        yield httpd.server_address[1], str(cert_file)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_counts_a_clean_switch(server: tuple[int, str]) -> None:
    port, cafile = server
    load = loadgen.LoadGenerator(loadgen.Target("127.0.0.1", port, NAME, cafile), workers=3)
    load.start()
    load.wait(0.5)
    load.mark("step")
    _State.version = "v2"
    load.wait(0.5)
    report = load.stop()
    steady, step = report.phase("steady"), report.phase("step")
    assert steady.requests > 10
    assert steady.failed == 0
    assert step.failed == 0
    # A request in flight at the mark may be answered by either version; across the whole run
    # the versions switch once, in order, with no late old answer.
    assert steady.versions[0] == "v1"
    assert step.versions[-1] == "v2"
    assert loadgen.version_sequence(report.samples) == (["v1", "v2"], 0)
    assert step.posts > 0
    assert step.gets > 0


def test_counts_failed_posts_and_refused_connections(server: tuple[int, str]) -> None:
    port, cafile = server
    _State.fail_posts = True
    load = loadgen.LoadGenerator(loadgen.Target("127.0.0.1", port, NAME, cafile), workers=2)
    load.start()
    load.wait(0.5)
    report = load.stop()
    steady = report.phase("steady")
    assert steady.failed_posts == steady.posts > 0
    assert steady.failed_gets == 0
    assert steady.errors == {"HTTP 500": steady.posts}

    # Nothing listens on a port of a closed socket: every request fails, and is counted.
    closed = loadgen.LoadGenerator(loadgen.Target("127.0.0.1", 9, NAME, cafile), workers=1)
    closed.start()
    closed.wait(0.2)
    refused = closed.stop().phase("steady")
    assert refused.requests > 0
    assert refused.failed == refused.requests
    assert "ConnectionRefusedError" in refused.errors


def test_an_untrusted_certificate_fails(server: tuple[int, str]) -> None:
    port, _ = server
    load = loadgen.LoadGenerator(loadgen.Target("127.0.0.1", port, NAME), workers=1)
    load.start()
    load.wait(0.2)
    steady = load.stop().phase("steady")
    assert steady.failed == steady.requests > 0


def test_bounded_by_request_count(server: tuple[int, str]) -> None:
    port, cafile = server
    load = loadgen.LoadGenerator(
        loadgen.Target("127.0.0.1", port, NAME, cafile), workers=2, max_requests=7
    )
    load.start()
    load.wait(5)  # returns as soon as the bound stops the workers
    assert len(load.stop().samples) == 7


def test_paced_by_rate(server: tuple[int, str]) -> None:
    port, cafile = server
    load = loadgen.LoadGenerator(
        loadgen.Target("127.0.0.1", port, NAME, cafile), workers=2, rate=20.0
    )
    load.start()
    load.wait(1.0)
    sent = len(load.stop().samples)
    # 20/s for 1 s: about 20 (the first requests go out at once, the last may be in flight), never
    # more; fewer when the machine is busy (make test runs this beside the scenarios).
    assert 10 <= sent <= 25


def test_waits_for_answers_to_requests_sent_after_a_mark(server: tuple[int, str]) -> None:
    port, cafile = server
    _State.delay = 0.6
    load = loadgen.LoadGenerator(
        loadgen.Target("127.0.0.1", port, NAME, cafile),
        workers=2,
        mix=(("GET", "/version", {}),),
    )
    load.start()
    load.wait(0.3)
    load.mark("settle")
    # Both clients wait on answers to requests sent before the mark: none after it has ended.
    assert load.answered_since("settle") == 0
    assert not load.wait_for("settle", 2, 0.2)
    assert load.wait_for("settle", 2, 5.0)
    report = load.stop()
    assert report.phase("settle").requests >= 2
    assert load.answered_since("settle") >= 2


def _sample(version: str, start: float, end: float) -> loadgen.Sample:
    return loadgen.Sample("GET", "/version", start, end, 200, None, version)


def test_flapping_is_counted_and_overlap_is_not() -> None:
    clean = [_sample("a", 0, 1), _sample("a", 1.5, 3.0), _sample("b", 2, 2.5), _sample("b", 3, 4)]
    assert loadgen.version_sequence(clean) == (["a", "b"], 0)
    flapping = [*clean, _sample("a", 3.5, 3.6)]
    assert loadgen.version_sequence(flapping) == (["a", "b"], 1)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 0.99) == 99.0
    assert loadgen.percentile(values, 0.5) == 50.0
    assert loadgen.percentile([], 0.99) == 0.0


def test_a_custom_mix_sends_its_headers(server: tuple[int, str]) -> None:
    """Each request of a caller's mix carries its own headers (a bearer token per path)."""
    port, cafile = server
    mix = (
        ("GET", "/v1/me?token=right", {"Authorization": "Bearer right-token"}),
        ("GET", "/v1/me?token=wrong", {"Authorization": "Bearer wrong-token"}),
    )
    load = loadgen.LoadGenerator(
        loadgen.Target("127.0.0.1", port, NAME, cafile), workers=2, max_requests=20, mix=mix
    )
    load.start()
    load.wait(10)
    report = load.stop()
    by_path = {path: {s.status for s in report.samples if s.path == path} for _, path, _ in mix}
    assert by_path == {"/v1/me?token=right": {200}, "/v1/me?token=wrong": {401}}
