"""The repository cites only documents it contains (no page a reader cannot open)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CITED = re.compile(r"\b[\w./-]+\.md\b")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    suffixes = {".md", ".py", ".tf", ".toml", ".cfg", ".txt", ""}
    paths = [ROOT / name.decode() for name in listed if name]
    return [p for p in paths if p.is_file() and p.suffix in suffixes]


def test_every_cited_markdown_document_is_in_the_repository():
    documents = {
        p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.md") if ".venv" not in p.parts
    }
    names = {Path(d).name for d in documents}
    missing = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for cited in _CITED.findall(text):
            if cited not in documents and Path(cited).name not in names:
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert missing == []
