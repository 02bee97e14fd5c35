"""The locks: one resolution (uv.lock) for every environment, its exports for the image.

A fresh clone must test exactly what the last green run tested, whatever the registry serves
that day, and the image must install that same set. So the closure of the runtime
dependencies is walked in a virtualenv made from the image's locks alone, not in whatever
the machine happens to have installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra.terraform import ROOT


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _load_script()

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
UV_LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
LOCKS = ROOT / "locks"
UV = os.environ.get("UV") or str(ROOT / ".venv-uv" / "bin" / "uv")


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a hash-pinned requirements file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, *hashes = line.split("--hash=")
        req = Requirement(spec.strip())
        [pin] = list(req.specifier)
        assert pin.operator == "==", f"{req.name} is not pinned exactly"
        pins[canonicalize_name(req.name)] = (pin.version, [h.strip() for h in hashes])
    return pins


def _uv() -> str:
    if not Path(UV).exists():
        pytest.fail(f"uv not found at {UV}: `make test` installs it from locks/uv.txt")
    return UV


def _packages() -> dict[str, dict[str, Any]]:
    return {canonicalize_name(p["name"]): p for p in UV_LOCK["package"]}


# -- the locks agree with their sources -------------------------------------------------------


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    """`scripts/lock.py --check` of the checkout at `root`."""
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "lock.py"), "--check"],
        env={**os.environ, "UV": _uv()}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _scratch(tmp_path: Path) -> Path:
    """A copy of what the lock check reads: the project's metadata, its locks, the script."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    for package in ("observability", "remediator"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    return tmp_path


def test_every_lock_is_current():
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr


def test_a_lock_that_no_longer_satisfies_pyproject_is_refused(tmp_path: Path):
    pyproject = _scratch(tmp_path) / "pyproject.toml"
    text = pyproject.read_text()
    assert '"tenacity>=8.2"' in text
    pyproject.write_text(text.replace('"tenacity>=8.2"', '"tenacity>=8.2", "attrs>=23"'))
    done = _check(tmp_path)
    assert done.returncode == 1
    assert "uv.lock does not satisfy pyproject.toml" in done.stderr


def test_an_export_edited_by_hand_is_refused(tmp_path: Path):
    runtime = _scratch(tmp_path) / "locks" / "runtime.txt"
    version = locked(runtime)["boto3"][0]
    runtime.write_text(runtime.read_text().replace(f"boto3=={version}", "boto3==1.34.150"))
    done = _check(tmp_path)
    assert done.returncode == 1
    assert "locks/runtime.txt differs from uv.lock" in done.stderr


def test_subtract_keeps_only_what_the_base_does_not_pin():
    base = "a==1 \\\n    --hash=sha256:aa\nb==2 \\\n    --hash=sha256:bb\n"
    full = base + "c==3 ; sys_platform == 'linux' \\\n    --hash=sha256:cc\n"
    assert lock.subtract(full, base) == "c==3 ; sys_platform == 'linux' \\\n    --hash=sha256:cc\n"
    assert set(lock.parse_blocks(full)) == {"a", "b", "c"}


def test_a_tool_lock_must_pin_what_its_source_asks_for():
    assert lock._unmet("checkov==3.3.30\n", "checkov==3.3.30 \\\n    --hash=sha256:x\n") == []
    assert lock._unmet("checkov==3.3.31\n", "checkov==3.3.30 \\\n    --hash=sha256:x\n") == [
        "checkov==3.3.31"
    ]
    assert lock._unmet("setuptools>=69\n", "setuptools==84.2.1 \\\n  --hash=sha256:x\n") == []


# -- what the lock holds ----------------------------------------------------------------------


def test_the_lock_resolves_every_extra_of_the_project():
    project = _packages()["self-healing-pipelines"]
    declared = set(PYPROJECT["project"]["optional-dependencies"])
    assert set(project.get("optional-dependencies", {})) == declared


@pytest.mark.parametrize(
    "name", ["runtime.txt", "traces.txt", "console.txt", "build.txt", "checkov.txt"]
)
def test_every_pin_carries_sha256_hashes(name: str):
    pins = locked(LOCKS / name)
    assert pins
    for package, (_, hashes) in pins.items():
        assert hashes, package
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), package


def test_the_image_has_a_wheel_for_both_of_its_platforms():
    """Every runtime pin has a pure wheel, or a CPython 3.11 manylinux wheel per architecture."""
    packages = _packages()
    for name in ("runtime.txt", "traces.txt", "console.txt"):
        for package, (version, hashes) in locked(LOCKS / name).items():
            entry = packages[package]
            assert entry["version"] == version, package
            wheels = {w["url"].rsplit("/", 1)[-1]: w["hash"] for w in entry.get("wheels", [])}
            pure = [w for w in wheels if w.endswith("-none-any.whl")]
            if pure:
                assert wheels[pure[0]] in hashes, package
                continue
            for arch in ("x86_64", "aarch64"):
                fits = [
                    w
                    for w in wheels
                    if re.search(rf"-(cp311-cp311|cp3\d+-abi3)-manylinux.*{arch}", w)
                ]
                assert fits, f"{package}=={version} has no manylinux {arch} wheel for 3.11"
                assert any(wheels[w] in hashes for w in fits), package


# -- the image's locks, installed alone -------------------------------------------------------


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """name -> {version, requires} of a fresh virtualenv made from the image's locks alone."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    uv = _uv()
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([uv, "venv", "--quiet", "--python", python, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"),
         "--require-hashes", str(LOCKS / "runtime.txt"), str(LOCKS / "traces.txt"),
         str(LOCKS / "console.txt")],
        check=True, timeout=300,
    )  # fmt: skip
    dump = (
        "import json, importlib.metadata as m; print(json.dumps({d.metadata['Name']: "
        "{'version': d.version, 'requires': d.requires or []} for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", dump], check=True, capture_output=True, text=True
    ).stdout
    # The project's own code imports against that set alone, as in the image.
    subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import observability, remediator.service, remediator.console.server"],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
    )  # fmt: skip
    return {canonicalize_name(name): info for name, info in json.loads(out).items()}


def _closure(
    roots: list[str], installed: dict[str, dict[str, Any]], extras: set[str] | None = None
) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    todo = [(Requirement(r), "") for r in roots]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in found:
            continue
        found[name] = req
        for sub in installed[name]["requires"]:
            for wanted in req.extras or {""}:
                todo.append((Requirement(sub), wanted))
    return found


def test_the_runtime_lock_pins_exactly_the_runtime_closure(image_env: dict[str, Any]):
    pins = locked(LOCKS / "runtime.txt")
    closure = _closure(PYPROJECT["project"]["dependencies"], image_env)
    assert set(closure) - set(pins) == set(), "runtime dependencies missing from the lock"
    assert set(pins) - set(closure) == set(), "the lock pins what nothing requires"
    for name, req in closure.items():
        assert image_env[name]["version"] == pins[name][0], f"{name} installed off its pin"
        assert req.specifier.contains(pins[name][0], prereleases=True), f"{name} vs {req}"


def test_the_traces_lock_pins_exactly_what_the_extra_adds(image_env: dict[str, Any]):
    base = locked(LOCKS / "runtime.txt")
    pins = locked(LOCKS / "traces.txt")
    extra = PYPROJECT["project"]["optional-dependencies"]["traces"]
    closure = _closure(extra, image_env)
    added = {name for name in closure if name not in base}
    assert added == set(pins)
    for name, req in closure.items():
        pinned = pins[name][0] if name in pins else base[name][0]
        assert image_env[name]["version"] == pinned, f"{name} installed off its pin"
        assert req.specifier.contains(pinned, prereleases=True), f"{name}=={pinned} vs {req}"


def test_the_console_lock_pins_exactly_what_the_extra_adds(image_env: dict[str, Any]):
    base = locked(LOCKS / "runtime.txt") | locked(LOCKS / "traces.txt")
    pins = locked(LOCKS / "console.txt")
    closure = _closure(PYPROJECT["project"]["optional-dependencies"]["console"], image_env)
    assert {name for name in closure if name not in base} == set(pins)
    for name, req in closure.items():
        pinned = pins[name][0] if name in pins else base[name][0]
        assert image_env[name]["version"] == pinned, f"{name} installed off its pin"
        assert req.specifier.contains(pinned, prereleases=True), f"{name}=={pinned} vs {req}"


def test_the_build_lock_pins_the_build_backend():
    pins = locked(LOCKS / "build.txt")
    for spec in PYPROJECT["build-system"]["requires"]:
        req = Requirement(spec)
        pinned, hashes = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(pinned)
        assert hashes
