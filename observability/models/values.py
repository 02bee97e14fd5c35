"""Python values as DynamoDB attribute values and back. Pure: no I/O, no boto3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["AttributeValue", "Plain", "av", "av_map", "plain", "plain_item"]

AttributeValue = dict[str, Any]
# A stored value as Python sees it: str, int, bool, None, or lists and maps of those.
Plain = Any


def av(value: Plain) -> AttributeValue:
    """A Python value as a DynamoDB attribute value: str, int, bool, None, lists and maps."""
    # Exact types first: every attribute of every write passes here.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int:
        return {"N": str(value)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": av_map(value)}
    if isinstance(value, list | tuple):
        return {"L": [av(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in the audit table")


def av_map(values: Mapping[str, Plain]) -> dict[str, AttributeValue]:
    """`av` of every value of a map (an item, an event): its strings and integers inline,
    without a call each."""
    out: dict[str, AttributeValue] = {}
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            out[str(name)] = {"S": value}
        elif kind is int:
            out[str(name)] = {"N": str(value)}
        else:
            out[str(name)] = av(value)
    return out


def plain(value: AttributeValue) -> Plain:
    """The inverse of `av`; types not stored here (sets, binary) read as None."""
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "M" in value:
        return {k: plain(v) for k, v in value["M"].items()}
    if "L" in value:
        return [plain(v) for v in value["L"]]
    return None


def plain_item(item: Mapping[str, AttributeValue]) -> dict[str, Plain]:
    return {k: plain(v) for k, v in item.items()}
