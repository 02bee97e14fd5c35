"""The Dockerfile, its locks and .dockerignore agree with the project and with the service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import pytest

from remediator.cli import build_parser
from remediator.service.health import HealthServer, Heartbeats
from remediator.settings import RemediatorSettings
from tests.infra.terraform import ROOT, Terraform

DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            out.append([])
        out[-1].append(instruction)
    return out


def final(name: str) -> str:
    return next(args for word, args in reversed(stages()[-1]) if word == name)


# -- image ------------------------------------------------------------------------------------


def test_two_stages_on_the_same_digest_pinned_slim_base_and_nothing_to_build_with_in_the_last():
    builder, last = stages()
    base, _, alias = builder[0][1].partition(" AS ")
    assert alias == "builder"
    # A tag moves; a digest names the same bytes on every rebuild.
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    # The venv's interpreter is a symlink into the base image: both stages must share it.
    assert last[0][1] == base
    text = " ".join(args for _, args in last)
    for tool in ("apt-get", "apk ", "curl", "wget", "gcc", "build-essential", "pip install"):
        assert tool not in text, f"{tool} in the final stage"
    copies = [args for word, args in last if word in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/venv /opt/venv"]


def test_dependencies_install_from_the_locks_with_hashes():
    builder = " ".join(args for word, args in stages()[0] if word == "RUN")
    assert "--require-hashes" in builder
    assert "-r locks/runtime.txt" in builder
    assert "-r locks/traces.txt" in builder
    assert "-r locks/console.txt" in builder
    assert "-r locks/build.txt" in builder
    assert '"${wheel}[traces,console]"' in builder, "the project itself with its image's extras"
    assert "--no-build-isolation" in builder, "the wheel builds with the pinned backend only"


def test_entrypoint_and_command_are_the_service_in_exec_form():
    # Exec form (JSON): the Python process is PID 1 and receives SIGTERM itself.
    entrypoint = json.loads(final("ENTRYPOINT"))
    command = json.loads(final("CMD"))
    assert entrypoint == ["remediator"]
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    assert command == ["run"]
    assert build_parser().parse_args(command).command == "run"


def test_runs_as_a_numeric_non_root_user():
    user = final("USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), user
    assert int(uid) != 0, user


def _health_check_passes(command: list[str], port: int) -> bool:
    argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    env = {**os.environ, "REMEDIATOR_HEALTH_PORT": str(port)}
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 0


@pytest.fixture
def health() -> Iterator[tuple[Heartbeats, int]]:
    beats = Heartbeats(max_silence_seconds=60)
    settings = RemediatorSettings(_env_file=None)
    server = HealthServer(beats, settings.health_host, 0).start()
    yield beats, server.port
    server.stop()


def test_docker_health_check_probes_the_service_health_endpoint(health: tuple[Heartbeats, int]):
    beats, port = health
    text = final("HEALTHCHECK")
    command = json.loads(text[text.index("CMD") + 3 :])
    default_port = RemediatorSettings.model_fields["health_port"].default
    assert f"'{default_port}'" in command[-1], "the default port is the settings' default"
    beats.tick("poll")
    assert _health_check_passes(command, port)
    beats.stopping = True  # /healthz answers 503
    assert not _health_check_passes(command, port)
    assert not _health_check_passes(command, 1)  # nothing listening


def test_ecs_health_check_probes_the_service_health_endpoint(health: tuple[Heartbeats, int]):
    beats, port = health
    tf = Terraform.load()
    container = tf.resolve(tf.locals["remediator_container"])
    command = container["healthCheck"]["command"]
    assert command[0] == "CMD"
    default_port = RemediatorSettings.model_fields["health_port"].default
    probe = command[1:]
    probe[-1] = probe[-1].replace(f":{default_port}/", f":{port}/")
    beats.tick("poll")
    assert _health_check_passes(probe, port)
    beats.stopping = True
    assert not _health_check_passes(probe, port)


# -- context ----------------------------------------------------------------------------------


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies():
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = set()
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            copied |= {p.rstrip("/") for p in args.split()[:-1]}
    assert copied == allowed
    for path in copied:
        assert (ROOT / path).exists(), path
