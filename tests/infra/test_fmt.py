"""Every .tf file under infra/terraform is as `terraform fmt -check` wants it (hcl_fmt.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.hcl_fmt import fmt_problems
from tests.infra.terraform import ROOT

FILES = sorted((ROOT / "infra" / "terraform").rglob("*.tf"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_terraform_fmt_would_change_nothing(path: Path):
    assert fmt_problems(path) == []


# Each as a hand edit left it: the checker must see what fmt would rewrite.
UNFORMATTED = {
    "the GSI block as it was": (
        "  global_secondary_index {\n"
        "    name            = local.due_index\n"
        "    hash_key        = local.due_pk\n"
        '    projection_type    = "INCLUDE"\n'
        "  }\n"
    ),
    "three-space indent": 'resource "a" "b" {\n   name = "x"\n}\n',
    "two spaces before a lone =": 'resource "a" "b" {\n  name  = "x"\n}\n',
    "a closing brace out of place": 'resource "a" "b" {\n  x = {\n    y = 1\n    }\n}\n',
}


@pytest.mark.parametrize("name", sorted(UNFORMATTED))
def test_the_check_sees_what_fmt_would_rewrite(tmp_path: Path, name: str):
    path = tmp_path / "main.tf"
    path.write_text(UNFORMATTED[name])
    assert fmt_problems(path), name


def test_a_multi_line_value_ends_an_aligned_run(tmp_path: Path):
    path = tmp_path / "main.tf"
    path.write_text(
        'resource "a" "b" {\n'
        "  table_name = x\n"
        "  hash_key   = y\n"
        "  item = jsonencode({\n"
        '    pk = { S = "TABLE" }\n'
        "  })\n"
        "}\n"
    )
    assert fmt_problems(path) == []
