# syntax=docker/dockerfile:1
# The remediator service (`remediator run`) for ECS/Fargate.
#
#   docker build -t remediator .
#   docker run --rm -e AWS_REGION -e REMEDIATOR_TABLE_NAME -e REMEDIATOR_TOPIC_ARN \
#              -e REMEDIATOR_QUEUE_URL remediator
#
# Both stages use the same base image: the venv's python is a symlink to the base's
# interpreter, so the venv only works on top of the image it was built on. It is pinned by
# digest, so a rebuild gets the same bytes; to move to a newer patch release, read the tag's
# current digest (`docker buildx imagetools inspect python:3.11-slim`) and replace both.

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1

WORKDIR /src

# Dependencies first (their layer survives code changes): exact versions, every file
# checked against its hash, wheels only, so no compiler is needed or installed. The locks
# are exports of uv.lock (`make lock`), the versions the test suite ran against. Without
# --no-deps, pip also fails the build if a dependency is missing from the lock. The image
# has the `traces` extra (OpenTelemetry SDK, OTLP/HTTP exporter): it exports spans when
# the OTEL_* variables say so (see README.md, Traces); and the `console` extra (Starlette,
# Jinja2, uvicorn), so `docker run -p 127.0.0.1:8765:8765 remediator console --host 0.0.0.0`
# serves the console from the image.
COPY locks/build.txt locks/runtime.txt locks/traces.txt locks/console.txt locks/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --only-binary=:all: \
       -r locks/build.txt \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --require-hashes --only-binary=:all: \
       -r locks/runtime.txt -r locks/traces.txt -r locks/console.txt

COPY pyproject.toml README.md ./
COPY observability/ observability/
COPY remediator/ remediator/

# The project's own wheel, built against the pinned backend alone (no isolation: nothing
# unpinned is fetched), then installed offline with its extras: their requirements
# must already be met by the locked dependencies. (DL3013 asks for a pinned version: this
# is the wheel just built, installed with --no-index.)
# hadolint ignore=DL3013
RUN /opt/build/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /wheels . \
    && for wheel in /wheels/*.whl; do \
         pip --python /opt/venv/bin/python install --no-index "${wheel}[traces,console]"; \
       done


FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# pip, setuptools and wheel install and build packages; the service needs none of them.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && useradd --system --user-group --uid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin remediator

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001:10001

# The endpoint listens on 127.0.0.1 (REMEDIATOR_HEALTH_HOST's default) and the check runs
# inside the container, so nothing is exposed. urlopen raises on a 503 or a refused
# connection, and the check fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('REMEDIATOR_HEALTH_PORT', '8080') + '/healthz', timeout=4)"]

# Exec form: the Python process is PID 1 and receives SIGTERM itself (the service installs
# its handler and exits 0 within the shutdown grace).
ENTRYPOINT ["remediator"]
CMD ["run"]
