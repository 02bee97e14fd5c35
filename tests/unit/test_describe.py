"""Describing an exception never raises and always gives storable text (observability/describe)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from observability.models.describe import REPLACEMENT, describe_exception, printable

# Any code point, with lone surrogates drawn often (hypothesis leaves them out unless asked).
ANY_TEXT = st.text(
    st.characters(categories=["Cs"]) | st.characters(codec=None, categories=None), max_size=60
)
ANY_OBJECT = st.one_of(
    st.none(), st.integers(), st.floats(), st.binary(max_size=8), ANY_TEXT, st.lists(st.integers())
)
RAISED = st.sampled_from([RuntimeError, TypeError, ValueError, UnicodeError, RecursionError])


def storable(text: str) -> bool:
    """What DynamoDB and SNS take: an exact str that encodes as UTF-8, and not empty."""
    text.encode("utf-8")
    return type(text) is str and bool(text)


@given(ANY_TEXT)
def test_any_message_is_described_as_valid_unicode(text: str) -> None:
    name, message = describe_exception(ValueError(text))
    assert name == "ValueError"
    assert storable(message)
    assert message == (printable(text) or "ValueError")


@given(ANY_TEXT)
def test_printable_only_replaces_lone_surrogates(text: str) -> None:
    out = printable(text)
    assert len(out) == len(text)
    for before, after in zip(text, out, strict=True):
        assert after == (REPLACEMENT if 0xD800 <= ord(before) <= 0xDFFF else before)
    assert printable(out) == out


@given(RAISED)
def test_a_str_that_raises_is_described_by_its_type(raised: type[Exception]) -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise raised("no text")

    name, message = describe_exception(Broken())
    assert name == "Broken"
    assert storable(message)
    assert "Broken" in message


@given(ANY_OBJECT)
def test_a_str_that_returns_anything_is_described(value: Any) -> None:
    class Odd(Exception):
        def __str__(self) -> Any:
            return value

    name, message = describe_exception(Odd())
    assert name == "Odd"
    assert storable(message)
    if isinstance(value, str):
        assert message == (printable(value) or "Odd")
    else:
        assert "Odd" in message


@given(ANY_TEXT)
def test_a_str_subclass_is_copied_to_a_plain_str(text: str) -> None:
    class Sly(str):
        def __len__(self) -> int:
            raise RuntimeError("len")

        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            raise RuntimeError("encode")

    class Wrapped(Exception):
        def __str__(self) -> str:
            return Sly(text)

    _, message = describe_exception(Wrapped())
    assert storable(message)
    assert message == (printable(text) or "Wrapped")


# CPython refuses a class name with a NUL or a lone surrogate (it must encode as UTF-8).
@given(ANY_TEXT.filter(lambda t: t and "\x00" not in t and printable(t) == t))
def test_any_type_name_is_described_as_valid_unicode(name: str) -> None:
    kind = type(name, (Exception,), {})
    described, message = describe_exception(kind("x"))
    assert storable(described)
    assert described == printable(name)
    assert message == "x"


def test_a_type_whose_name_raises_is_described_generically() -> None:
    class Meta(type):
        @property
        def __name__(cls) -> str:  # type: ignore[override]
            raise RuntimeError("no name")

    class Nameless(Exception, metaclass=Meta):
        pass

    name, message = describe_exception(Nameless("boom"))
    assert (name, message) == ("Exception", "boom")


def test_an_empty_message_is_the_type_name() -> None:
    assert describe_exception(KeyError()) == ("KeyError", "KeyError")
    assert describe_exception(OSError(2, "No such file")) == (
        "FileNotFoundError",
        "[Errno 2] No such file",
    )
