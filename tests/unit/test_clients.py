"""Clients: none at import, one per service, reused, with the Config the design asks for."""

from __future__ import annotations

import subprocess
import sys

import pytest
from botocore.validate import ParamValidationDecorator

from observability.clients import AwsClients, default_clients, reset_default_clients
from observability.errors import ConfigError


def test_importing_the_library_builds_no_client():
    code = (
        "import botocore.session, observability, remediator\n"
        "import observability.clients as c\n"
        "assert c._default is None\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_one_client_per_service_reused():
    clients = AwsClients(region="eu-west-1")
    assert clients.client("dynamodb") is clients.client("dynamodb")
    assert clients.client("sqs") is not clients.client("dynamodb")


def test_process_wide_clients_are_built_once_and_can_be_reset():
    reset_default_clients()
    first = default_clients("eu-west-1")
    assert default_clients() is first
    reset_default_clients()
    assert default_clients("eu-west-1") is not first
    reset_default_clients()


def test_config_standard_retries_timeouts_keepalive_pool(monkeypatch):
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    config = AwsClients(region="eu-west-1", max_pool_connections=32).config_for("dynamodb")
    # total_max_attempts counts attempts (botocore's max_attempts would count retries).
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert config.connect_timeout == 3.0
    assert config.read_timeout == 10.0
    assert config.tcp_keepalive is True
    assert config.max_pool_connections == 32
    # The long poll waits 20 s: SQS reads must outlast it.
    assert AwsClients(region="eu-west-1").config_for("sqs").read_timeout > 20


@pytest.mark.parametrize("service", ["sqs", "sns", "lambda", "ecs", "stepfunctions", "events"])
def test_only_the_table_skips_botocores_validation(service):
    """The audit table's requests are all built here; a trigger's carry a user's data."""
    clients = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    assert not isinstance(clients.client("dynamodb")._serializer, ParamValidationDecorator)
    assert isinstance(clients.client(service)._serializer, ParamValidationDecorator)
    triggers = clients.derive(max_attempts=1)
    assert isinstance(triggers.client(service)._serializer, ParamValidationDecorator)


def test_aws_max_attempts_is_honoured_as_attempts(monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert AwsClients(region="eu-west-1").config_for("sns").retries == {
        "mode": "standard",
        "total_max_attempts": 2,
    }


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_a_bad_aws_max_attempts_is_named(monkeypatch, bad):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", bad)
    with pytest.raises(ConfigError, match="AWS_MAX_ATTEMPTS"):
        AwsClients(region="eu-west-1")


def test_derived_clients_share_the_endpoint_with_their_own_retries_and_timeout():
    base = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    triggers = base.derive(max_attempts=1, read_timeout=7)
    assert triggers.config_for("sqs").retries == {"mode": "standard", "total_max_attempts": 1}
    # The trigger timeout bounds a SendMessage too, not the long poll's 30 s.
    assert triggers.config_for("sqs").read_timeout == 7
    assert triggers.client("sqs").meta.endpoint_url == "http://127.0.0.1:9"
    records = base.derive(max_attempts=1)
    assert records.config_for("sqs").read_timeout > 20
