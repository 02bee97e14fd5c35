"""One line for a person: what went wrong and what to do about it. Pure."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from remediator.ops.identity import IdentityUnavailable

__all__ = ["DENIED_CODES", "NO_REGION", "explain", "one_line"]

NO_REGION = (
    "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION); to try things locally, run "
    "`remediator demo --keep` in another shell and paste the export lines it prints"
)

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain(exc: BaseException) -> str:
    """The most useful sentence about `exc`, looking through its causes for AWS errors."""
    if isinstance(exc, IdentityUnavailable) and exc.__cause__ is not None:
        return (
            "cannot read the caller's AWS identity (sts:GetCallerIdentity), so nothing was "
            f"written: {explain(exc.__cause__)}"
        )
    for cause in _chain(exc):
        if isinstance(cause, NoCredentialsError | PartialCredentialsError):
            return (
                "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (to try things locally: `remediator demo --keep`)"
            )
        if isinstance(cause, NoRegionError):
            return NO_REGION
        if isinstance(cause, ResponseParserError):
            return (
                "the endpoint's answer could not be read as AWS's: check AWS_ENDPOINT_URL and "
                f"AWS_REGION (a proxy, a mistyped URL, or a server that is not AWS): {cause}"
            )
        if isinstance(
            cause,
            EndpointConnectionError
            | ConnectTimeoutError
            | ConnectionClosedError
            | ReadTimeoutError,
        ):
            where = getattr(cause, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
            return (
                f"cannot reach {where}: check AWS_ENDPOINT_URL, AWS_REGION and the network "
                "(is the local endpoint still running?)"
            )
        if isinstance(cause, ClientError):
            code = str(cause.response.get("Error", {}).get("Code", ""))
            status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in DENIED_CODES or status == 403:
                operation = cause.operation_name
                return (
                    f"AWS refused the credentials or permissions ({code} on {operation}): "
                    "check AWS_PROFILE / the access keys, and that the IAM policy allows it"
                )
    return one_line(str(exc))


def one_line(text: str, limit: int = 400) -> str:
    """A message fit for one terminal line: no newlines, no page of XML."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
