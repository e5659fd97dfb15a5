"""nginx in front of the app: HTTP only redirects (and serves ACME challenges), HTTPS proxies to
the app's unix socket with Mozilla 6.0 TLS and security headers on every response.

Every request runs inside the host against 127.0.0.1 (curl --resolve, openssl s_client); TLS
trust is not checked here (-k), another test checks the certificate chain.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from kit_harness.hosts import host_tls_profile

DOMAIN = "app.kit.test"
SITE_FILE = "/etc/nginx/sites-available/app.conf"
ACME_DIR = "/var/www/acme-challenge/.well-known/acme-challenge"
HSTS_MIN_AGE = 63072000
PRIVATE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]
    body: str

    def header(self, name: str) -> list[str]:
        return self.headers.get(name.lower(), [])


def fetch(host: Any, url: str, *extra: str) -> Response:
    """One request with curl inside the host; the name resolves to 127.0.0.1 on 80 and 443."""
    args = [
        "curl",
        "--silent",
        "--show-error",
        "--insecure",
        "--max-time",
        "10",
        "--resolve",
        f"{DOMAIN}:80:127.0.0.1",
        "--resolve",
        f"{DOMAIN}:443:127.0.0.1",
        "--include",
        *extra,
        url,
    ]
    result = host.run(shlex.join(args))
    assert result.rc == 0, f"curl {url} failed: {result.stderr}"
    head, _, body = result.stdout.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(status_line.split()[1]), headers, body)


def s_client(host: Any, *options: str) -> tuple[int, str]:
    """A TLS handshake with openssl inside the host; returns its exit code and output."""
    command = shlex.join(["openssl", "s_client", "-connect", "127.0.0.1:443", *options])
    result = host.run(f"timeout 10 {command} </dev/null 2>&1")
    return result.rc, result.stdout


def test_nginx_running_and_enabled(host: Any) -> None:
    nginx = host.service("nginx")
    assert nginx.is_running
    assert nginx.is_enabled


def test_nginx_configuration_is_valid_without_warnings(host: Any) -> None:
    result = host.run("nginx -t")
    assert result.rc == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_distribution_default_site_is_disabled(host: Any) -> None:
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert host.file("/etc/nginx/sites-enabled/app.conf").linked_to == SITE_FILE


@pytest.mark.parametrize("path", ["/", "/some/page?x=1"])
def test_http_redirects_to_https(host: Any, path: str) -> None:
    response = fetch(host, f"http://{DOMAIN}{path}")
    assert response.status == 301
    assert response.header("location") == [f"https://{DOMAIN}{path}"]


def test_http_serves_acme_challenges_without_redirect(host: Any) -> None:
    token = f"testinfra-{uuid.uuid4().hex}"
    path = f"{ACME_DIR}/{token}"
    host.run_test(f"printf %s {shlex.quote(token)} > {shlex.quote(path)}")
    try:
        response = fetch(host, f"http://{DOMAIN}/.well-known/acme-challenge/{token}")
    finally:
        host.run(f"rm -f {shlex.quote(path)}")
    assert response.status == 200
    assert response.body == token
    assert not response.header("location")


def test_http_has_no_hsts(host: Any) -> None:
    response = fetch(host, f"http://{DOMAIN}/")
    assert not response.header("strict-transport-security")


def test_http_drops_unknown_host_names(host: Any) -> None:
    result = host.run(
        "curl --silent --max-time 10 --resolve unknown.kit.test:80:127.0.0.1 "
        "http://unknown.kit.test/"
    )
    assert result.rc == 52, "444: the connection closes without a reply"


def test_https_health_live(host: Any) -> None:
    response = fetch(host, f"https://{DOMAIN}/health/live")
    assert response.status == 200
    assert json.loads(response.body)["status"] == "alive"


def test_https_speaks_http2(host: Any) -> None:
    version = host.check_output(
        f"curl --silent --insecure --http2 --output /dev/null --write-out '%{{http_version}}' "
        f"--resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/health/live"
    )
    assert version == "2"


@pytest.mark.parametrize(("path", "status"), [("/health/live", 200), ("/no-such-page", 404)])
def test_security_headers_on_every_status(host: Any, path: str, status: int) -> None:
    response = fetch(host, f"https://{DOMAIN}{path}")
    assert response.status == status

    hsts = response.header("strict-transport-security")
    assert len(hsts) == 1, hsts
    max_age = re.search(r"max-age=(\d+)", hsts[0])
    assert max_age, hsts
    assert int(max_age.group(1)) >= HSTS_MIN_AGE
    assert "includesubdomains" in hsts[0].lower()

    assert response.header("x-content-type-options") == ["nosniff"]

    frame_options = [value.upper() for value in response.header("x-frame-options")]
    csp = " ".join(response.header("content-security-policy"))
    assert frame_options in (["DENY"], ["SAMEORIGIN"]) or "frame-ancestors 'none'" in csp

    referrer = response.header("referrer-policy")
    assert len(referrer) == 1, referrer
    assert referrer[0] in PRIVATE_REFERRER_POLICIES


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_no_version_disclosed(host: Any, scheme: str) -> None:
    # The redirect body on port 80 is an nginx-generated page, so it shows the error page too.
    response = fetch(host, f"{scheme}://{DOMAIN}/no-such-page")
    for server in response.header("server"):
        assert "/" not in server, f"Server header discloses a version: {server}"
    assert "nginx/" not in response.body


@pytest.mark.parametrize(
    ("option", "protocol", "profiles"),
    [
        ("-tls1", "TLSv1", ()),
        ("-tls1_1", "TLSv1.1", ()),
        ("-tls1_2", "TLSv1.2", ("intermediate",)),
        ("-tls1_3", "TLSv1.3", ("intermediate", "modern")),
    ],
)
def test_tls_protocol_versions(
    host: Any, option: str, protocol: str, profiles: tuple[str, ...]
) -> None:
    """Intermediate accepts TLS 1.2 and 1.3, modern TLS 1.3 alone; nothing older."""
    accepted = host_tls_profile(host) in profiles
    # SECLEVEL=0 lets Debian's openssl offer TLS 1.0/1.1 at all: a refusal is then the server's.
    rc, output = s_client(host, "-servername", DOMAIN, option, "-cipher", "DEFAULT@SECLEVEL=0")
    negotiated = re.search(r"^New, (\S+), Cipher is (\S+)", output, re.M)
    assert negotiated, output
    if accepted:
        assert rc == 0, output
        assert negotiated.groups()[0] == protocol
        assert negotiated.groups()[1] != "(NONE)"
    else:
        assert rc != 0, output
        assert negotiated.groups() == ("(NONE)", "(NONE)"), output
        assert "no protocols available" not in output, "the client, not the server, refused"
        assert "alert protocol version" in output, output


def test_unknown_sni_is_rejected(host: Any) -> None:
    rc, output = s_client(host, "-servername", "unknown.kit.test")
    assert rc != 0, output
    assert "BEGIN CERTIFICATE" not in output
    assert "unrecognized name" in output, output


def test_each_colour_has_an_upstream_with_keepalive_and_the_marker_picks_one(host: Any) -> None:
    """One upstream per colour (its socket, its own keep-alive pool); the HTTPS server sends each
    request to green while the live marker exists, else to blue: a switch needs no reload."""
    config = host.check_output("nginx -T 2>/dev/null")
    for colour in ("blue", "green"):
        upstream = re.search(rf"upstream\s+app_{colour}\s*\{{(?P<body>[^}}]*)\}}", config)
        assert upstream, f"upstream app_{colour} not found in nginx -T"
        servers = re.findall(r"^\s*server\s+(\S+);", upstream["body"], re.M)
        assert servers == [f"unix:/run/app/{colour}.sock"]
        keepalive = re.search(r"^\s*keepalive\s+(\d+);", upstream["body"], re.M)
        assert keepalive
        assert int(keepalive.group(1)) > 0
    assert "if (-f /srv/app/green.live) {" in config
    assert "proxy_pass http://$app_colour;" in config
    active = json.loads(host.file("/var/lib/app/deploy.json").content_string)["active"]
    assert host.file("/srv/app/green.live").exists == (active == "green")
    assert not host.file("/etc/nginx/upstreams").exists
    # Upstream keep-alive only works with HTTP/1.1 and without "Connection: close": a plain
    # request sends an empty Connection header (a WebSocket upgrade "upgrade": the map).
    assert "proxy_http_version 1.1;" in config
    assert "proxy_set_header Connection $app_upstream_connection;" in config
    assert re.search(r"map \$http_upgrade \$app_upstream_connection \{[^}]*\"\" \"\";", config)
    # And it is kept: right after three plain requests, nginx holds an idle connection to the
    # active colour's socket (closed after the upstream keepalive_timeout, 1s).
    held = host.check_output(
        f"curl --silent --fail --insecure --resolve {DOMAIN}:443:127.0.0.1"
        " --output /dev/null --output /dev/null --output /dev/null"
        f" https://{DOMAIN}/health/live https://{DOMAIN}/health/live https://{DOMAIN}/health/live"
        f" && ss -xH state connected | grep -c /run/app/{active}.sock || true"
    )
    assert int(held) >= 1, held
