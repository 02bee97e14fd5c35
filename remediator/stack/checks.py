"""What `doctor` reports and how: a finding, the fix for an error a check met, and the region
of every configured ARN and URL against the client's. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from observability.replies import ForeignReply
from remediator.ops.diagnose import DENIED_CODES

__all__ = [
    "BOOTSTRAP",
    "FAIL",
    "OK",
    "WARN",
    "Finding",
    "config_fix",
    "fix_for",
    "region_findings",
    "region_of",
]

OK, WARN, FAIL = "ok", "warn", "fail"
BOOTSTRAP = "run `remediator bootstrap` and export the lines it prints"
_ENDPOINT = (
    "point AWS_ENDPOINT_URL at the local endpoint `remediator demo --keep` prints, or unset "
    "it to reach AWS itself"
)
_NOT_FOUND = frozenset({"NotFound", "NotFoundException", "ResourceNotFoundException"})
# arn:aws:sns:eu-west-1:123456789012:name, https://sqs.eu-west-1.amazonaws.com/123/name
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):")
_URL_REGION = re.compile(r"^https?://[a-z0-9-]+\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def fix_for(exc: BaseException, check: str, region: str) -> str:
    """The likely fix when `check` met `exc` (AWS's error, or no AWS at all)."""
    if isinstance(exc, ForeignReply | ResponseParserError):
        return f"{_ENDPOINT}; the endpoint did not answer as AWS does"
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError | ReadTimeoutError,
    ):
        return f"{_ENDPOINT}, and check the network (is the local endpoint still running?)"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in DENIED_CODES:
            return (
                "check AWS_PROFILE or the access keys, and that the role's IAM policy allows "
                f"{exc.operation_name} (infra/terraform/modules/remediator/iam.tf)"
            )
        if code in _NOT_FOUND or "NonExistent" in code or "DoesNotExist" in code:
            return (
                f"it does not exist in region {region}: if AWS_REGION is right, {BOOTSTRAP}; "
                "otherwise set AWS_REGION to the region the stack was deployed in"
            )
    if isinstance(exc, BotoCoreError | ClientError):
        return f"check AWS_ENDPOINT_URL and AWS_REGION ({region}) and retry with --debug"
    return f"run `remediator --debug doctor` for the trace of this {check} check"


def config_fix(message: str, models: Iterable[type[Any]]) -> str:
    """The fix for a setting that failed validation: the variable, and its default."""
    named = re.search(r"\b((?:REMEDIATOR|AWS)_[A-Z0-9_]+)", message)
    if named is None:
        return "correct the setting named above (see the README's configuration table)"
    variable = named.group(1)
    for model in models:
        prefix = str(model.model_config.get("env_prefix", "")).upper()
        field = model.model_fields.get(variable[len(prefix) :].lower())
        if variable.startswith(prefix) and field is not None and not field.is_required():
            return (
                f"set {variable} to a value the rule above allows, or unset it for its "
                f"default ({field.default})"
            )
    return f"set {variable} to a value the rule above allows (see the README's table)"


def region_of(arn_or_url: str) -> str | None:
    """The AWS region an ARN or an AWS endpoint URL names (None: a local URL, a global ARN)."""
    found = _ARN_REGION.match(arn_or_url) or _URL_REGION.match(arn_or_url)
    return (found.group(1) or None) if found else None


def region_findings(region: str, configured: Iterable[tuple[str, str | None]]) -> list[Finding]:
    """Each configured ARN or URL (by variable) whose region is not the client's."""
    found = []
    for variable, value in configured:
        named = region_of(value or "")
        if named and named != region:
            found.append(
                Finding(
                    "region",
                    FAIL,
                    f"{variable} names region {named}, the clients use {region}",
                    f"set AWS_REGION={named} if the stack is there, or point {variable} at "
                    f"the resource in {region}",
                )
            )
    return found
