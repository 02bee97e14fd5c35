"""Settings read in plain Python (observability/envconfig.py) take what pydantic takes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticError

from observability.envconfig import EnvSettings, SettingsError, read_dotenv, rule, setting


class Sample(EnvSettings):
    model_config: ClassVar[dict[str, Any]] = {"env_prefix": "SAMPLE_", "env_file": ".env"}

    count: int = setting(3, ge=1, le=10)
    ratio: float = setting(0.5, gt=0)
    label: str = setting("x", min_length=1, max_length=4)
    flag: bool = True
    names: tuple[str, ...] = ()
    limit: float | None = None
    zone: str | None = setting(None, aliases=("SAMPLE_ZONE_NAME", "OTHER_ZONE"))

    @rule
    def _label_fits_count(self) -> None:
        if len(self.label) > self.count:
            raise ValueError(f"SAMPLE_LABEL is longer than SAMPLE_COUNT ({self.count})")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("SAMPLE_", "OTHER_")):
            monkeypatch.delenv(name)


INTS = ["7", "7.0", "7.5", " 7 ", "1e3", "+7", "-0", "7_000", "0x10", "", "seven", 7.0, 7.5, True]
FLOATS = ["nan", "inf", "1e3", " 1.5 ", "1_0", "", "x", 3, True]
BOOLS = [
    "true",
    "FALSE",
    "1",
    "0",
    "yes",
    "no",
    "on",
    "off",
    "t",
    "f",
    "y",
    "n",
    "2",
    " true",
    1,
    2,
]


def _pydantic(kind: type, value: Any) -> tuple[bool, Any]:
    try:
        return True, TypeAdapter(kind).validate_python(value)
    except PydanticError:
        return False, None


def _ours(field: str, value: Any) -> tuple[bool, Any]:
    try:
        return True, getattr(Sample(_env_file=None, **{field: value}), field)
    except SettingsError:
        return False, None


@pytest.mark.parametrize(
    ("field", "kind", "value"),
    [("count", int, v) for v in INTS]
    + [("ratio", float, v) for v in FLOATS]
    + [("flag", bool, v) for v in BOOLS],
)
def test_a_value_is_taken_or_refused_as_pydantic_would(field: str, kind: type, value: Any) -> None:
    ok, expected = _pydantic(kind, value)
    if ok and field == "count" and not 1 <= expected <= 10:
        ok = False  # out of the field's bounds: refused by the bound, not the type
    if ok and field == "ratio" and not expected > 0:
        ok = False
    got_ok, got = _ours(field, value)
    assert got_ok == ok, value
    if ok and expected == expected:  # nan is never equal to itself
        assert got == expected
        assert type(got) is type(expected)


def test_every_problem_is_named_with_its_input_and_bound() -> None:
    with pytest.raises(SettingsError) as refused:
        Sample(_env_file=None, count="0", ratio="0", label="")
    problems = {p["loc"][0]: (p["input"], p["msg"]) for p in refused.value.errors()}
    assert problems == {
        "count": ("0", "Input should be greater than or equal to 1"),
        "ratio": ("0", "Input should be greater than 0"),
        "label": ("", "String should have at least 1 character"),
    }


def test_rules_run_after_the_fields_and_name_the_variables() -> None:
    with pytest.raises(SettingsError, match=r"SAMPLE_LABEL is longer than SAMPLE_COUNT \(2\)"):
        Sample(_env_file=None, count=2, label="abc")


def test_environment_with_prefix_any_case_and_keywords_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAMPLE_COUNT", "5")
    monkeypatch.setenv("sample_names", "a, b,,c ")
    monkeypatch.setenv("COUNT", "9")  # unprefixed: not ours
    s = Sample(_env_file=None)
    assert (s.count, s.names) == (5, ("a", "b", "c"))
    assert Sample(_env_file=None, count=4).count == 4
    assert s.model_fields_set == {"count", "names"}


def test_aliases_in_order_and_by_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_ZONE", "b")
    assert Sample(_env_file=None).zone == "b"
    monkeypatch.setenv("SAMPLE_ZONE_NAME", "a")
    assert Sample(_env_file=None).zone == "a"
    monkeypatch.setenv("SAMPLE_ZONE", "never")  # an aliased field is read by its aliases only
    assert Sample(_env_file=None).zone == "a"
    assert Sample(_env_file=None, zone="c").zone == "c"
    assert Sample(_env_file=None, SAMPLE_ZONE_NAME="d").zone == "d"


def test_an_empty_optional_is_unset() -> None:
    s = Sample(_env_file=None, limit="", zone="")
    assert (s.limit, s.zone) == (None, None)
    with pytest.raises(SettingsError, match="limit="):
        Sample(_env_file=None, limit="soon")


def test_dotenv_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "export SAMPLE_COUNT=6\n"
        "SAMPLE_LABEL='ab'\n"
        'SAMPLE_NAMES="x, y"\n'
        "SAMPLE_RATIO=0.25 # inline comment\n"
        "not a line\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAMPLE_RATIO", "0.75")
    s = Sample()
    assert (s.count, s.label, s.names, s.ratio) == (6, "ab", ("x", "y"), 0.75)
    assert Sample(_env_file=None).count == 3
    assert read_dotenv(tmp_path / "missing.env") == {}


def test_read_dotenv_strips_quotes_export_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("export A=1\nB='two words'\nC=\"3\"\nD=4 # four\n#E=5\nF=a#b\n")
    assert read_dotenv(path) == {"a": "1", "b": "two words", "c": "3", "d": "4", "f": "a#b"}
    assert read_dotenv(None) == {}
    assert read_dotenv(tmp_path) == {}  # a directory is no file


@pytest.mark.parametrize(
    "text",
    [
        "A=1\nB=${A}-x\n",
        "A=1\nB=${MISSING:-fallback}/${A:-no}\nC='${A}'\nD=\"${HOME_X}\"\n",
        "B=${A}\nA=late\n",  # a later line is not seen yet
        "A=${ENVCONFIG_OUTER}\nENVCONFIG_OUTER=file\nC=${ENVCONFIG_OUTER}\n",
        "A=$HOME_X and ${ } and ${A\n",  # not variables: kept as written
    ],
)
def test_dotenv_variables_expand_as_python_dotenv_expands_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    """pydantic-settings reads `.env` with python-dotenv, which expands `${NAME}` and
    `${NAME:-default}` from the environment and the file's earlier lines."""
    from dotenv import dotenv_values

    monkeypatch.setenv("HOME_X", "/home/x")
    monkeypatch.setenv("ENVCONFIG_OUTER", "env")
    path = tmp_path / "v.env"
    path.write_text(text)
    expected = {k.lower(): v for k, v in dotenv_values(path).items() if v is not None}
    assert read_dotenv(path) == expected
    assert any("${" in line for line in text.splitlines())


def test_frozen_copies_and_dumps() -> None:
    s = Sample(_env_file=None, count=4)
    with pytest.raises(AttributeError, match="frozen"):
        s.count = 5  # type: ignore[misc]
    copy = s.model_copy(update={"label": "yz"})
    assert (copy.count, copy.label, s.label) == (4, "yz", "x")
    assert copy.model_fields_set == {"count", "label"}
    assert s.model_dump(include={"count", "flag"}) == {"count": 4, "flag": True}
    assert Sample(_env_file=None, **s.model_dump()) == s
    assert Sample.model_fields["count"].default == 3
    assert Sample.model_fields["zone"].validation_alias == ("SAMPLE_ZONE_NAME", "OTHER_ZONE")


def test_an_unsupported_annotation_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"Bad\.when: unsupported setting type list\[int\]"):

        class Bad(EnvSettings):
            when: list[int] = []  # noqa: RUF012
