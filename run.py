#!/usr/bin/env python3
"""Run the reference app for development: uvicorn with auto-reload, settings from ``.env``.

    python run.py            http://127.0.0.1:8000, reloads when a file under app/ changes
    python run.py --tls      https://127.0.0.1:8443, self-signed certificate made on first use
    python run.py --check    check .env and the settings, then exit (``make dev`` runs this first)

Meant for IDEs (run or debug this file); ``make dev`` and ``make dev-tls`` run the same thing with
the uvicorn command line. The settings are the production ones (``app/settings.py``): ``.env``
only provides environment variables, and a variable already set in the environment wins over it.

Never use ``--reload`` in production: it watches files and restarts the process on every change.
Production runs gunicorn with uvicorn workers under systemd, behind nginx, which ends TLS; the
self-signed certificate here only serves to test secure cookies and the like locally.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
import shutil
import sys
from pathlib import Path

import uvicorn
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from app.settings import CREDENTIALS_ENV, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent
HOST = "127.0.0.1"
HTTP_PORT = 8000
HTTPS_PORT = 8443
CERTIFICATE_DAYS = 90
# How a line that python-dotenv cannot parse may still start (``NAME=`` or ``export NAME=``):
# lets the error name the setting without showing the value.
_NAME = re.compile(r"(?:export\s+)?+([A-Za-z_][A-Za-z0-9_.]*)\s*=")
# Variables meant for uvicorn, Python or the file watcher rather than for the app.
_OTHER_PREFIXES = ("UVICORN_", "PYTHON", "WATCHFILES_")


class DevError(RuntimeError):
    """The development setup is unusable; the message says why, never printing a value."""


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a dotenv file, refusing any line python-dotenv would skip.

    uvicorn's ``--env-file`` (python-dotenv) only warns about a line it cannot parse and goes on
    without it; here such a line is an error naming its line number and, when it can be told,
    the setting. Values are never part of a message.
    """
    problems = []
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error or (binding.key is not None and binding.value is None):
                text = binding.original.string
                statement = text.lstrip()
                line = binding.original.line + text[: len(text) - len(statement)].count("\n")
                match = _NAME.match(statement)
                name = binding.key or (match.group(1) if match else None)
                problems.append(f"line {line}{f' ({name})' if name else ''} is not NAME=value")
    if problems:
        raise DevError(f"configuration error: {path}: " + "; ".join(problems))
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def unknown_names(names: list[str]) -> list[str]:
    """Names that are neither a setting of the app nor meant for uvicorn or Python."""
    known = {field.upper() for field in Settings.model_fields} | {CREDENTIALS_ENV}
    return [n for n in names if n.upper() not in known and not n.startswith(_OTHER_PREFIXES)]


def check(env_file: Path) -> None:
    """Load ``env_file`` as uvicorn will, then read the settings exactly as production does."""
    if env_file.is_file():
        values = read_env_file(env_file)
        for name in unknown_names(list(values)):
            print(
                f"run.py: warning: {env_file}: {name} is not a setting of the app", file=sys.stderr
            )
        for name, value in values.items():
            os.environ.setdefault(name, value)  # python-dotenv's load_dotenv(override=False)
    elif env_file.exists() or env_file.is_symlink():
        raise DevError(f"configuration error: {env_file} is not a readable file")
    try:
        load_settings()
    except SettingsError as error:
        where = (
            f"{env_file} and the environment"
            if env_file.is_file()
            else (f"the environment; there is no {env_file}: copy .env.example to it")
        )
        raise DevError(f"{error} (read from {where})") from None


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made when absent or expiring.

    Uses ``cryptography`` (installed in .venv with Ansible), imported here so that running
    without ``--tls`` needs only the app's own dependencies.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.is_file() and key_path.is_file():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if current.not_valid_after_utc - now > datetime.timedelta(days=1):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    print(f"run.py: made a self-signed certificate for localhost in {directory}", file=sys.stderr)
    return cert_path, key_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, help=f"default {HTTP_PORT}, {HTTPS_PORT} with --tls")
    parser.add_argument("--env-file", type=Path, default=ROOT / ".env", help="default: .env")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    parser.add_argument("--tls-dir", type=Path, default=ROOT / ".cache/dev-tls")
    parser.add_argument("--check", action="store_true", help="check the settings, then exit")
    args = parser.parse_args(argv)
    env_file, tls_dir = args.env_file.absolute(), args.tls_dir.absolute()
    # Run where this file is, wherever the IDE starts it: app/ and the data directory are here.
    os.chdir(ROOT)
    example = ROOT / ".env.example"
    if env_file == ROOT / ".env" and not env_file.exists() and example.is_file():
        shutil.copyfile(example, env_file)  # as `make dev` does on first use
        print(
            f"run.py: created {env_file} from {example.name} (git-ignored; edit it)",
            file=sys.stderr,
        )
    try:
        check(env_file)
        tls = ensure_certificate(tls_dir) if args.tls else None
    except DevError as error:
        print(f"run.py: {error}", file=sys.stderr)
        return 2
    if args.check:
        return 0
    uvicorn.run(
        "app.main:app",
        host=HOST,
        port=args.port or (HTTPS_PORT if tls else HTTP_PORT),
        reload=True,
        reload_dirs=["app"],
        env_file=env_file if env_file.is_file() else None,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
