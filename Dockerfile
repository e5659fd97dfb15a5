# The reference app as a container image: one uvicorn process per container. The orchestrator
# (Kubernetes, compose) restarts it, scales it and routes to it; TLS ends in front of it.
#
#   make image          fastapi-kit/app:local on IMAGE_BASE (python:3.12-slim), from wheels made
#                       on the controller (kit_harness.image_wheels): the build needs no index
#   docker build .      the same with the builder downloading the dependencies from PyPI
#   --build-arg BASE_IMAGE=<image>   any Debian-based image with python3 >= 3.11; the tests use the
#                       locally made fastapi-kit/debian-systemd:bookworm (no registry is needed)
#
# No secret is baked in: API_TOKEN comes at run time from files in $CREDENTIALS_DIRECTORY (a
# mounted Kubernetes Secret or compose secret) or from the environment.
# Works with the classic builder and BuildKit (no BuildKit-only syntax).
ARG BASE_IMAGE=python:3.12-slim

# --- builder: wheels built, then installed into a virtualenv that the runtime stage copies ---
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Official python images have venv built in; Debian's python3 keeps it in python3-venv.
RUN if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
        apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-venv >/dev/null \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv
WORKDIR /build

# 1. The dependencies, before the code, so this layer is reused until they change.
#    Wheels made by `make image` are in .cache/image-wheels; the pattern matches nothing when
#    there are none, and then the dependencies come from the package index.
COPY constraints.txt .cache/image-wheel[s] /wheelhouse/
COPY pyproject.toml ./
# The index to use when no wheels are supplied: PyPI unless --build-arg PIP_INDEX_URL=<mirror>.
# Build arguments are visible in the builder's history: never put credentials in one.
ARG PIP_INDEX_URL
RUN set -eu; \
    if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
        index="--no-index --find-links /wheelhouse"; \
    else \
        index=""; echo "builder: no wheels supplied, using the package index"; \
    fi; \
    /opt/venv/bin/python -c 'import tomllib; \
print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > requirements.txt; \
    /opt/venv/bin/pip wheel --no-cache-dir --quiet $index --wheel-dir /wheels \
        --constraint /wheelhouse/constraints.txt --requirement requirements.txt; \
    /opt/venv/bin/pip install --no-cache-dir --quiet --no-index --find-links /wheels \
        --constraint /wheelhouse/constraints.txt --requirement requirements.txt

# 2. The app itself, as a wheel (only this layer is rebuilt when the code changes).
COPY README.md ./
COPY app/ app/
RUN set -eu; \
    if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
        index="--no-index --find-links /wheelhouse"; \
    else \
        index=""; \
    fi; \
    /opt/venv/bin/pip wheel --no-cache-dir --quiet $index --no-deps --wheel-dir /wheels/app .; \
    /opt/venv/bin/pip install --no-cache-dir --quiet --no-index --no-deps /wheels/app/*.whl; \
    /opt/venv/bin/pip uninstall --quiet --yes pip setuptools

# --- runtime: the base image, an unprivileged user and the virtualenv; no compiler, no pip ---
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data
# A fixed uid/gid outside the base's system range, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --home-dir /nonexistent --no-create-home --no-log-init \
        --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0750 /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /srv
EXPOSE 8000
STOPSIGNAL SIGTERM
# On SIGTERM uvicorn stops accepting, lets in-flight requests finish for up to 20 s, runs the
# lifespan shutdown and exits. Orchestrators must wait longer than that (Kubernetes:
# terminationGracePeriodSeconds > preStop sleep + 20, checked by
# tests/image/test_deploy_manifests.py).
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", \
     "--timeout-graceful-shutdown", "20", "--no-server-header"]
