"""infra/terraform/README.md's deployment steps, run as written from a fresh clone.

The ```sh blocks of its "Deploying" section run in order, in one bash, at the root of a
copy of the repository's files (what a clone has: no virtualenv, no build/). `docker` and
`terraform` are stand-ins on PATH that record where and how they were called: everything
up to them runs for real (the alert router's zip is built from the lock). Then every path,
variable and output the section names must resolve, from where the commands use it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from remediator.alerts.destinations import _SECRET_KEYS as SECRET_KEYS
from tests.infra.terraform import EXAMPLE_DIR, INFRA_DIR, ROOT, TF_DIR, Terraform, parse

# The walk builds the alert router's zip from the registry: on a loaded machine that takes
# longer than the suite's 120 s default, which is no fault of the steps.
pytestmark = pytest.mark.timeout(600)

README = INFRA_DIR / "README.md"
# Where the clone has the example (terraform runs there) and the module.
RUN_IN = EXAMPLE_DIR.relative_to(ROOT)
MODULE = TF_DIR.relative_to(ROOT)
STUBBED = ("docker", "terraform", "aws")
DIGEST = "sha256:" + "ab" * 32
# What the stand-ins answer, by the start of their arguments (nothing otherwise).
ANSWERS = {
    "aws sts get-caller-identity": "123456789012",
    "aws ecr get-login-password": "token",
    "aws ecr describe-images": DIGEST,
}


def deploying_section(text: str) -> str:
    start = text.index("## Deploying")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def shell_blocks(section: str) -> list[str]:
    return [
        "\n".join(line.removeprefix("   ") for line in block.splitlines())
        for block in re.findall(r"```sh\n(.*?)\n\s*```", section, re.DOTALL)
    ]


def fresh_clone(destination: Path) -> Path:
    """The files a clone of the working tree has: tracked, plus new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def stub(directory: Path, name: str, log: Path) -> None:
    path = directory / name
    answers = "".join(
        f'  "{command.removeprefix(name + " ")}"*) echo "{answer}" ;;\n'
        for command, answer in ANSWERS.items()
        if command.startswith(name + " ")
    )
    path.write_text(
        f'#!/bin/sh\necho "$PWD|{name} $*" >> "{log}"\ncase "$*" in\n{answers}'
        # As docker login does: the password is read to its end (the pipe never breaks).
        "  *--password-stdin*) cat >/dev/null ;;\nesac\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[Path, str]]]:
    """(clone, [(directory, command)] of the stand-ins) after the steps ran."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the walk-through copies a git checkout: run it from a clone")
    base = tmp_path_factory.mktemp("walkthrough")
    clone = fresh_clone(base / "clone")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    log = base / "calls.log"
    log.touch()
    for name in STUBBED:
        stub(bin_dir, name, log)
    script = "\n".join(shell_blocks(deploying_section(README.read_text())))
    python_dir = Path(sys.executable).resolve().parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "EDITOR": "true",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if shutil.which("python3.11", path=env["PATH"]) is None:
        env["PATH"] += os.pathsep + str(python_dir)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"the steps failed:\n{result.stdout}\n{result.stderr}"
    calls = []
    for line in log.read_text().splitlines():
        where, _, command = line.partition("|")
        calls.append((Path(where), command))
    return clone, calls


def test_the_steps_call_docker_and_terraform_where_they_must(walked):
    clone, calls = walked
    docker = [(where, c) for where, c in calls if c.startswith("docker")]
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    login, build, push = (c for _, c in docker)
    assert login == f"docker login --username AWS --password-stdin {repo}"
    tag = build.removeprefix(f"docker build -t {repo}/remediator:").removesuffix(" .")
    assert re.fullmatch(r"\d{8}-\d{6}", tag), build
    assert push == f"docker push {repo}/remediator:{tag}"
    assert all(where == clone for where, _ in docker)
    assert (clone / "Dockerfile").is_file()
    read_back = [c for _, c in calls if c.startswith("aws ecr describe-images")]
    assert read_back, "the digest is read back from ECR"
    assert f"imageTag={tag}" in read_back[0]
    terraform = [(where, command) for where, command in calls if command.startswith("terraform")]
    assert [command for _, command in terraform][:3] == [
        "terraform init",
        "terraform plan -out remediator.tfplan",
        "terraform apply remediator.tfplan",
    ]
    for where, _ in terraform:
        assert where == clone / RUN_IN, "terraform runs in the example root"
        assert (where / "terraform.tfvars").is_file(), "the variables were copied first"
    tfvars = parse(clone / RUN_IN / "terraform.tfvars")
    assert tfvars["image"] == f"{repo}/remediator@{DIGEST}", "the pushed digest is deployed"


def test_the_zip_is_where_the_variables_say_and_holds_a_working_router(walked):
    clone, calls = walked
    [(terraform_dir, _), *_] = [c for c in calls if c[1].startswith("terraform")]
    tfvars = parse(terraform_dir / "terraform.tfvars")
    package = (terraform_dir / tfvars["alerts_lambda_package"]).resolve()
    assert package == (clone / "build" / "alert-router.zip").resolve()
    # terraform's own check of the path, evaluated from where terraform runs.
    tf = Terraform.load(clone / MODULE, cwd=terraform_dir)
    assert tf.rejections(tfvars) == []

    handler = tf.resolve(tf.resource("aws_lambda_function", "alerts"))["handler"]
    module, _, attribute = handler.rpartition(".")
    unpacked = clone / "build" / "unpacked"
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    assert f"{module.replace('.', '/')}/__init__.py" in names
    assert any(n.startswith("pydantic_core/") and "x86_64-linux" in n for n in names)
    # As Lambda would: only the zip and the standard library on the path.
    probe = (
        f"import sys; sys.path.insert(0, {str(unpacked)!r}); "
        f"from {module} import {attribute}; import boto3, tenacity; "
        f"print(callable({attribute}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-S", "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert loaded.stdout.strip() == "True", loaded.stderr


def test_every_path_variable_and_output_named_resolves(walked):
    clone, _ = walked
    section = deploying_section(README.read_text())
    tf = Terraform.load()
    variables, outputs = set(tf.variables()), set(tf.outputs())
    terraform_dir = clone / RUN_IN

    named_outputs = set(re.findall(r"terraform output (?:-\w+ )*([a-z0-9_]+)", section))
    assert named_outputs, "the steps read outputs"
    assert named_outputs - outputs == set(), "outputs the README names but the module lacks"

    spans = re.findall(r"`([^`\n]+)`", section)
    assigned = {m.group(1) for s in spans if (m := re.match(r"([a-z][a-z0-9_]*) = ", s))}
    identifiers = {s for s in spans if re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9*]+)+", s)}
    assert assigned - variables == set(), "set in the README, not a variable"
    for name in identifiers:
        if name in SECRET_KEYS or re.fullmatch(r"manylinux\w+", name):
            continue  # a key the router reads in the secret's JSON; a pip platform tag
        if name.endswith("*"):
            assert any(v.startswith(name[:-1]) for v in variables), name
        else:
            assert name in variables | outputs, f"`{name}` is neither a variable nor an output"

    paths = {s for s in spans if re.fullmatch(r"[\w./-]+", s) and ("/" in s or "." in s)}
    paths -= {"linux/arm64"}  # a platform, not a path
    assert paths, "the section names files"
    for path in paths:
        found = [base / path for base in (clone, terraform_dir) if (base / path).exists()]
        assert found, f"`{path}` exists neither at the root nor where terraform runs"
