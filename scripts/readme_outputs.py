"""Regenerates the command outputs shown in README.md from a real run of the demo's data.

A transcript is a fenced ```console block: lines `$ command` followed by what it prints
(stdout and stderr, as a terminal shows them). A command expected to fail says so with a
trailing `  # exit N`; without it, exit 0 is expected. This script starts `remediator demo
--keep`, saves the README's python files in a fresh directory, runs every transcript's
commands there in README order (one demo: state carries over, so the README's order is the
story), and writes back each output that no longer matches. What varies from run to run
(times, ids, ports, spans, column widths) is normalised on both sides before comparing, so
the README keeps real values and a rerun leaves it unchanged.

    python scripts/readme_outputs.py           # rewrite README.md where it is stale
    python scripts/readme_outputs.py --check   # exit 1 and print a diff if it is stale

Commands that must not run here (`make demo`, `terraform apply`) belong in `sh` blocks.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REGENERATE = "python scripts/readme_outputs.py"

_FENCE = re.compile(r"^```console\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_EXIT = re.compile(r"\s+# exit (\d+)$")
_PY_FILE = re.compile(r"^```python\n# ([\w-]+\.py)\n(.*?)^```$", re.MULTILINE | re.DOTALL)

# Each pattern and what it stands for; order matters (an ISO time holds digits a span
# pattern would take).
_VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b1-[0-9a-f]{8}-[0-9a-f]{24}\b"), "<xray>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<trace>"),
    (re.compile(r"\b(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?ms\b"), "<ms>"),
    (re.compile(r"\b\d+(?:\.\d+)?[smhd]\b"), "<span>"),
    (re.compile(r"-{3,}"), "---"),  # a table's rule, as wide as its column
    (re.compile(r" {2,}"), "  "),  # column padding, which follows the widest value
]


def normalise(text: str) -> str:
    """`text` with what varies between runs replaced by placeholders."""
    lines = []
    for line in text.splitlines():
        for pattern, placeholder in _VARYING:
            line = pattern.sub(placeholder, line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n")


@dataclass
class Command:
    line: str  # as written after `$ `, without the exit comment
    exit_code: int
    output: str

    def render(self) -> str:
        mark = f"  # exit {self.exit_code}" if self.exit_code else ""
        return f"$ {self.line}{mark}\n" + (self.output + "\n" if self.output else "")


@dataclass
class Transcript:
    start: int  # offsets of the block's body in the file
    end: int
    commands: list[Command] = field(default_factory=list)

    def render(self) -> str:
        return "".join(c.render() for c in self.commands)


def parse(text: str) -> list[Transcript]:
    found = []
    for block in _FENCE.finditer(text):
        transcript = Transcript(block.start(1), block.end(1))
        for line in block.group(1).splitlines():
            if line.startswith("$ "):
                command = line[2:]
                code = _EXIT.search(command)
                exit_code = int(code.group(1)) if code else 0
                command = command[: code.start()] if code else command
                transcript.commands.append(Command(command, exit_code, ""))
            elif transcript.commands:
                last = transcript.commands[-1]
                last.output = f"{last.output}\n{line}" if last.output else line
            else:
                raise ValueError(f"console block must start with '$ ': {line!r}")
        found.append(transcript)
    return found


def python_files(text: str) -> dict[str, str]:
    """The README's python file blocks (`# name.py` first), as saved by its readers."""
    return {m.group(1): f"# {m.group(1)}\n{m.group(2)}" for m in _PY_FILE.finditer(text)}


def _run(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env, "NO_COLOR": "1", "TERM": "dumb"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.rstrip("\n")


def play(text: str) -> list[Transcript]:
    """Every transcript of `text`, its commands run against one `remediator demo --keep`."""
    sys.path.insert(0, str(ROOT))
    from tests.integration.harness import DemoKeep

    ran = parse(text)
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        workdir = Path(tmp)
        for name, code in python_files(text).items():
            (workdir / name).write_text(code, encoding="utf-8")
        with DemoKeep(workdir) as demo:
            env = {**demo.env, "PATH": f"{Path(sys.executable).parent}:{demo.env['PATH']}"}
            for transcript in ran:
                for command in transcript.commands:
                    command.exit_code, command.output = _run(command.line, workdir, env)
            demo.stop()
    return ran


def stale(text: str, ran: list[Transcript]) -> Iterator[str]:
    """A unified diff per command whose output or exit code no longer matches."""
    for shown, real in zip(parse(text), ran, strict=True):
        for was, now in zip(shown.commands, real.commands, strict=True):
            if normalise(was.render()) != normalise(now.render()):
                yield "".join(
                    difflib.unified_diff(
                        was.render().splitlines(keepends=True),
                        now.render().splitlines(keepends=True),
                        "README.md",
                        "the program",
                    )
                )


def rewrite(text: str, ran: list[Transcript]) -> str:
    """`text` with each transcript that no longer matches replaced by the real one."""
    out, at = [], 0
    for shown, real in zip(parse(text), ran, strict=True):
        out.append(text[at : shown.start])
        same = normalise(shown.render()) == normalise(real.render())
        out.append(text[shown.start : shown.end] if same else real.render())
        at = shown.end
    out.append(text[at:])
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print a diff and exit 1 if stale")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    ran = play(text)
    diffs = list(stale(text, ran))
    if args.check:
        print("".join(diffs), end="")
        if diffs:
            print(f"README.md: {len(diffs)} stale output(s); regenerate: {REGENERATE}")
        return 1 if diffs else 0
    README.write_text(rewrite(text, ran), encoding="utf-8")
    print(f"README.md: {len(diffs)} output(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
