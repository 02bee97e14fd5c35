"""A trigger's target in another account: the role the remediator assumes to fire it. Pure.

`role_arn` names an IAM role (AssumeRole's RoleArn), `external_id` the id the role's trust
policy asks for (AssumeRole's ExternalId: 2-1,224 of letters, digits and `_+=,.@:/-`).
"""

from __future__ import annotations

import re

from observability.errors import InvalidInput

__all__ = ["ROLE_FIELDS", "check_role"]

ROLE_FIELDS = ("role_arn", "external_id")
# An IAM role's ARN: partition, empty region, 12-digit account, role path and name.
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_MAX_ROLE_ARN = 2048
# AssumeRole's ExternalId (the botocore model's pattern and lengths).
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")


def check_role(kind: str, role_arn: str | None, external_id: str | None) -> None:
    """The role fields of a trigger of `kind`, as AssumeRole would take them."""
    if role_arn is None:
        if external_id is not None:
            raise InvalidInput("trigger.external_id", "needs role_arn: it is sent with AssumeRole")
        return
    if kind == "custom":
        # A custom trigger's code builds its own clients: a role here would be ignored.
        raise InvalidInput(
            "trigger.role_arn", "is not supported by a custom trigger (assume it in its code)"
        )
    if len(role_arn) > _MAX_ROLE_ARN:
        raise InvalidInput(
            "trigger.role_arn", f"is {len(role_arn)} characters; the limit is {_MAX_ROLE_ARN}"
        )
    if not _ROLE_ARN.fullmatch(role_arn):
        raise InvalidInput(
            "trigger.role_arn",
            f"must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role_arn[:80]!r}",
        )
    if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
        raise InvalidInput(
            "trigger.external_id",
            f"must be 2-1224 letters, digits or _+=,.@:/- (AssumeRole's ExternalId), "
            f"got {len(external_id)} characters",
        )
