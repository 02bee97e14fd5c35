"""Step Functions' RedriveExecution, which moto does not implement, modelled for the tests.

The request is checked first like every other (the strict layer wraps the call before this
answers). The model then answers as AWS documents it: an execution it was told failed is
redriven once per client token (a repeat with the same token is the same redrive); any
other is refused with ExecutionNotRedrivable, as AWS refuses a SUCCEEDED, RUNNING or Express
execution; an unknown one with ExecutionDoesNotExist.
https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

__all__ = ["RedriveModel"]


class RedriveModel:
    """Answers RedriveExecution on one stepfunctions client: `failed` are the executions
    that may be redriven; `redriven` lists (execution ARN, client token) as they came."""

    def __init__(self, client: Any, failed: set[str] | None = None) -> None:
        self.failed = set(failed or ())
        self.redriven: list[tuple[str, str]] = []
        self._tokens: dict[str, str] = {}
        self._client = client
        client.meta.events.register("before-call.sfn.RedriveExecution", self._answer)

    def close(self) -> None:
        self._client.meta.events.unregister("before-call.sfn.RedriveExecution", self._answer)

    @staticmethod
    def _refuse(code: str, message: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message}}, "RedriveExecution")

    def _answer(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # `params` is the serialised request: its JSON body holds the call's parameters.
        body = params["body"]
        request = json.loads(body.decode() if isinstance(body, bytes) else body)
        arn, token = request["executionArn"], request.get("clientToken", "")
        if token and self._tokens.get(token) == arn:
            pass  # the same request again: the same redrive
        elif arn in self.failed:
            self.failed.discard(arn)
            self.redriven.append((arn, token))
            self._tokens[token] = arn
        else:
            try:
                self._client.describe_execution(executionArn=arn)
            except ClientError:
                raise self._refuse(
                    "ExecutionDoesNotExist", f"Execution Does Not Exist: {arn}"
                ) from None
            raise self._refuse("ExecutionNotRedrivable", f"Execution {arn} cannot be redriven")
        http = AWSResponse("https://states.local", 200, {"x-amzn-requestid": "model"}, None)
        return http, {"redriveDate": datetime.now(UTC)}
