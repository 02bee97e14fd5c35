"""Item sizes and write units by DynamoDB's published rules. Pure: no I/O, no boto3.

https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
An item's size is the sum of its attribute names and values: a string is its UTF-8 bytes, a
number 1 byte per two significant digits plus 1, a Boolean or null 1 byte, a list or map
3 bytes plus its elements, and 1 byte more per element. A standard write costs 1 unit per
started KB of the larger of the item before and after it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["KB", "attribute_size", "item_size", "plain_size", "value_size", "write_units"]

KB = 1024


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0]
    significant = digits.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value (DynamoDB JSON: {"S": ...}, {"N": ...}, ...)."""
    if "S" in value:
        return len(str(value["S"]).encode("utf-8", "surrogatepass"))
    if "N" in value:
        return _number_size(str(value["N"]))
    if "B" in value:
        raw = value["B"]
        return len(raw) if isinstance(raw, bytes | bytearray) else len(str(raw))
    if "BOOL" in value or "NULL" in value:
        return 1
    if "L" in value:
        return 3 + sum(1 + value_size(v) for v in value["L"])
    if "M" in value:
        return 3 + sum(1 + attribute_size(k, v) for k, v in value["M"].items())
    if "SS" in value:
        return sum(len(str(v).encode("utf-8")) for v in value["SS"])
    if "NS" in value:
        return sum(_number_size(str(v)) for v in value["NS"])
    raise ValueError(f"unknown attribute value type: {sorted(value)}")


def plain_size(value: Any) -> int:
    """`value_size(av(value))` of a Python value (str, int, bool, None, lists and maps of
    them, as `observability.models.values.av` stores them), without building the attribute
    value first: the archive decision sizes a batch's state and history on every write of
    a batch that has run before, the remediator's record among them."""
    kind = type(value)
    if kind is str:
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if kind is int:
        return _number_size(str(value))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int):
        return _number_size(str(value))
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode("utf-8")) + plain_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(1 + plain_size(v) for v in value)
    raise TypeError(f"cannot store a {type(value).__name__} in the audit table")


def attribute_size(name: str, value: Mapping[str, Any]) -> int:
    return len(name.encode("utf-8")) + value_size(value)


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(attribute_size(k, v) for k, v in item.items())


def write_units(*sizes: int) -> int:
    """Units of one standard write: 1 per started KB of the largest size given (an update
    pays for the larger of the item before and after it); at least 1."""
    return max(1, math.ceil(max(sizes, default=0) / KB))
