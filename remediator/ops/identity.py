"""Who acts: the caller's AWS identity, read once per command and recorded as the actor.

A name typed on the command line proves nothing (`root` in a container, anyone's name from
anyone), so every operator action records the ARN that `sts:GetCallerIdentity` returns for
the credentials in use, and a declared `--operator` only beside it. GetCallerIdentity needs
no IAM permission and cannot be denied, so a failure here means AWS is out of reach: the
action is refused rather than written anonymously.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from remediator.errors import RemediatorError

__all__ = ["Actor", "IdentityUnavailable", "caller"]


class IdentityUnavailable(RemediatorError):
    """The caller's AWS identity could not be read; nothing was written."""


@dataclass(frozen=True)
class Actor:
    """The identity an action is recorded with."""

    arn: str
    operator: str | None = None  # what the caller declared (--operator), never instead

    def detail(self) -> dict[str, str]:
        """What an event's detail carries beside its `actor`."""
        return {"operator": self.operator} if self.operator else {}

    def __str__(self) -> str:
        return f"{self.arn} ({self.operator})" if self.operator else self.arn


def caller(sts: Any, operator: str | None = None) -> Actor:
    """The identity of the credentials `sts` signs with (one call)."""
    try:
        arn = sts.get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        endpoint = getattr(getattr(sts, "meta", None), "endpoint_url", "?")
        raise IdentityUnavailable(
            f"cannot read the caller's AWS identity from {endpoint} "
            f"(sts:GetCallerIdentity: {exc}); nothing was written"
        ) from exc
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise IdentityUnavailable(f"sts:GetCallerIdentity answered {arn!r}, not an ARN")
    return Actor(arn=arn, operator=operator or None)
