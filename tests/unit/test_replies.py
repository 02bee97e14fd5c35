"""Only a reply shaped as AWS's is read as one: the checks on headers and bodies."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import HeadersDict

from observability.replies import ForeignReply, check_reply

WHERE = {"endpoint": "http://proxy:8080", "region": "eu-west-1", "service": "DynamoDB"}


def reply(status: int, body: bytes, **headers: str) -> dict[str, Any]:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return {"status_code": status, "body": body, "headers": HeadersDict(named)}


AWS_JSON = {"Content_Type": "application/x-amz-json-1.0", "x_amzn_RequestId": "r1"}


@pytest.mark.parametrize(
    ("protocol", "answer"),
    [
        ("json", reply(200, b"{}", **AWS_JSON)),
        ("query", reply(200, b"<x/>", Content_Type="text/xml", x_amzn_RequestId="r1")),
        ("rest-json", reply(200, b"payload", Content_Type="text/plain", x_amz_request_id="r")),
        ("json", reply(403, b'<?xml version="1.0"?><ErrorResponse/>', Content_Type="text/html")),
        ("json", reply(400, b'{"__type": "x"}')),
    ],
)
def test_aws_replies_pass(protocol: str, answer: dict[str, Any]):
    check_reply(protocol, answer, operation="PutItem", **WHERE)


@pytest.mark.parametrize(
    ("protocol", "answer", "what"),
    [
        (
            "json",
            reply(200, b"<!doctype html><p>hi</p>", Content_Type="text/html"),
            "200 text/html",
        ),
        ("json", reply(200, b"", x_amzn_RequestId="r1", Content_Type="text/html"), "an empty"),
        ("json", reply(200, b"{}", Content_Type="application/x-amz-json-1.0"), "200"),
        ("query", reply(200, b"{}", Content_Type="application/json", x_amzn_RequestId="r"), ""),
        ("json", reply(502, b"<html>Bad gateway</html>", Content_Type="text/html"), "502"),
    ],
)
def test_anything_else_is_a_foreign_reply_naming_the_endpoint(
    protocol: str, answer: dict[str, Any], what: str
):
    with pytest.raises(ForeignReply) as raised:
        check_reply(protocol, answer, operation="PutItem", **WHERE)
    message = str(raised.value)
    assert message.startswith("http://proxy:8080 (region eu-west-1) answered PutItem with HTTP")
    assert what in message
    assert "not an AWS DynamoDB reply" in message


def test_a_stand_in_that_mislabels_its_json_is_still_read():
    answer = reply(200, b'{"EventBusArn": "arn"}', Content_Type="text/html", x_amzn_RequestId="r")
    check_reply("json", answer, operation="CreateEventBus", **WHERE)
