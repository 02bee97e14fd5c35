"""Only an AWS reply is read as one.

botocore reads a `200` whose body is not its protocol's (a proxy's HTML page, a mistyped
AWS_ENDPOINT_URL) as an answer with no fields: a PutItem "succeeds", a Query finds nothing.
Every client of `AwsClients` checks each reply before it is parsed: a success must carry a
request id header (AWS and its local stand-ins always send one) and, for the JSON and query
protocols, its protocol's content type; an error must carry a request id or an error body.
Anything else raises `ForeignReply`, a BotoCoreError, so that every caller's existing
handling turns it into its own unavailable error (StoreUnavailable, NotifierUnavailable,
...) and nothing is taken for done or for empty.
The check is a few dictionary lookups per call: nothing next to the round trip.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError

__all__ = ["ForeignReply", "check_reply", "watch_replies"]

_REQUEST_ID = ("x-amzn-requestid", "x-amz-request-id")
# The content type each protocol answers with (errors of the JSON protocol: application/json).
_CONTENT = {"json": "json", "query": "xml", "ec2": "xml"}


class ForeignReply(BotoCoreError):
    """The endpoint answered with something that is not the AWS service's reply."""

    fmt = (
        "{endpoint} (region {region}) answered {operation} with {what}, not an AWS {service} "
        "reply: check AWS_ENDPOINT_URL and AWS_REGION (a proxy, a mistyped URL, or a server "
        "that is not AWS)"
    )


def _what(response: dict[str, Any], content_type: str) -> str:
    body = response.get("body") or b""
    first = bytes(body[:60]).decode("utf-8", "replace") if isinstance(body, bytes) else ""
    first = " ".join(first.split())
    shown = f": {first!r}" if first else ", an empty body"
    return f"HTTP {response.get('status_code')} {content_type or 'with no content type'}{shown}"


def _start(response: dict[str, Any]) -> bytes:
    """The first bytes of the body, lower-cased: enough to tell a document's kind."""
    body = response.get("body")
    return bytes(body[:40]).lstrip().lower() if isinstance(body, bytes) else b""


def _body_shaped(expected: str, response: dict[str, Any]) -> bool:
    start = _start(response)
    if expected == "json":
        return start.startswith(b"{")
    return start.startswith(b"<") and not start.startswith((b"<!doctype", b"<html"))


def _error_shaped(response: dict[str, Any]) -> bool:
    return _start(response).startswith((b"{", b"<?xml", b"<error"))


def check_reply(
    protocol: str,
    response: dict[str, Any],
    *,
    endpoint: str,
    region: str,
    service: str,
    operation: str,
) -> None:
    """Raise ForeignReply unless `response` (botocore's response dict) is an AWS reply."""
    headers = response.get("headers") or {}
    content_type = str(headers.get("content-type", ""))
    if int(response.get("status_code") or 0) >= 300:
        # An error is never taken for success, and botocore reads AWS's in any of its shapes
        # (a 403 may come as XML from any service): only a web page is refused here.
        if any(name in headers for name in _REQUEST_ID) or _error_shaped(response):
            return
    else:
        expected = _CONTENT.get(protocol)
        if any(name in headers for name in _REQUEST_ID) and (
            expected is None
            or expected in content_type.lower()
            or _body_shaped(expected, response)  # a stand-in that mislabels its JSON
        ):
            return
    raise ForeignReply(
        endpoint=endpoint,
        region=region,
        operation=operation,
        what=_what(response, content_type),
        service=service,
    )


def watch_replies(client: Any) -> None:
    """Check every reply `client` gets before botocore parses it."""
    endpoint = str(client.meta.endpoint_url)
    region = str(client.meta.region_name)

    def before_parse(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        service = operation_model.service_model
        check_reply(
            service.resolved_protocol,
            response_dict,
            endpoint=endpoint,
            region=region,
            service=str(service.service_id),
            operation=str(operation_model.name),
        )

    client.meta.events.register("before-parse", before_parse)
