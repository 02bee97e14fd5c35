"""Every command output README.md shows is what the program prints: its `console` blocks are
run in order against one `remediator demo --keep` and compared, normalised for what varies
between runs (times, ids, ports, spans, column widths). On a difference the test prints the
diff and the command that regenerates the outputs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readme_outputs", ROOT / "scripts/readme_outputs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


outputs = _script()


@pytest.fixture(scope="module")
def readme() -> str:
    return outputs.README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ran(readme: str) -> list:
    return outputs.play(readme)


def test_every_readme_output_is_what_the_program_prints(readme: str, ran: list):
    diffs = list(outputs.stale(readme, ran))
    assert not diffs, (
        "".join(diffs) + f"\n{len(diffs)} stale output(s) in README.md; "
        f"regenerate: {outputs.REGENERATE}"
    )


def test_an_edited_output_or_exit_code_is_caught(readme: str, ran: list):
    edited = readme.replace("resolved (was EXHAUSTED); alert resolved", "resolved (was FAILED)")
    assert edited != readme
    [diff] = outputs.stale(edited, ran)
    assert "-2024-09: resolved (was FAILED)" in diff
    wrong_exit = readme.replace("--note x --yes  # exit 1\n", "--note x --yes\n", 1)
    assert wrong_exit != readme
    [diff] = outputs.stale(wrong_exit, ran)
    assert "# exit 1" in diff
    # What varies is not compared: another time, id, port or span is no difference.
    varied = re.sub(r"\d\d:\d\d:\d\d\.\d+Z", "23:59:59.000001Z", readme)
    varied = varied.replace(" ago", " ago ").replace("127.0.0.1:", "127.0.0.1:1")
    assert not list(outputs.stale(varied, ran))


def test_commands_with_output_are_transcripts_and_the_rest_are_not_run(readme: str):
    """A `$ command` shown anywhere but a console block would go unchecked."""
    assert sum(len(t.commands) for t in outputs.parse(readme)) >= 20
    for block in re.findall(r"^```(\w*)\n(.*?)^```$", readme, re.MULTILINE | re.DOTALL):
        kind, body = block
        if kind != "console":
            assert not re.search(r"^\$ ", body, re.MULTILINE), f"a transcript in a {kind!r} block"


def test_normalising_keeps_what_a_reader_compares():
    same = outputs.normalise(
        "2024-05  FAILED  1  12s ago  in 14m  at 2026-12-07T01:13:08.637464Z 3.5 ms"
    )
    assert same == outputs.normalise(
        "2024-05  FAILED  1        3s ago  in 2h  at 2027-01-01T00:00:00Z 12 ms"
    )
    assert outputs.normalise("2024-05  FAILED  1") != outputs.normalise("2024-05  FAILED  2")
    assert outputs.normalise("attempt 2 of 3: 900 s") != outputs.normalise("attempt 2 of 3: 90 s")
