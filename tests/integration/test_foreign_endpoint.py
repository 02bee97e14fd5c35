"""An endpoint that is not AWS (a proxy's page, a plain web server) or a wrong region: the
producer raises its unavailable error, and every command prints one line, never a trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from observability import AuditTrail
from observability.clients import AwsClients
from observability.errors import StoreUnavailable
from observability.settings import Settings
from remediator.cli import main
from tests.conftest import REGION, new_id

PAGE = b"<!doctype html><html><body>Welcome</body></html>"
TOPIC = "arn:aws:sns:us-east-1:123456789012:pipeline-signals"


def _server(status: int) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        do_GET = do_POST = answer

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def html_endpoint() -> Iterator[str]:
    """Answers every request `200` with an HTML page."""
    yield from _server(200)


@pytest.fixture(params=[200, 501], ids=["html-200", "plain-501"])
def foreign(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _server(request.param)


def _trail(endpoint: str) -> AuditTrail:
    settings = Settings(table_name="pipeline-audit", topic_arn=TOPIC, region=REGION, _env_file=None)
    return AuditTrail(settings, clients=AwsClients(region=REGION, endpoint_url=endpoint))


def test_a_batch_against_a_web_page_raises_the_unavailable_error(html_endpoint: str):
    trail = _trail(html_endpoint)
    ran = []
    foreign = r"text/html: .*not an AWS DynamoDB reply"
    with pytest.raises(StoreUnavailable, match=foreign), trail.batch("ingest", "ok"):
        ran.append("ok")
    with pytest.raises(StoreUnavailable, match=html_endpoint), trail.batch("ingest", "bad"):
        raise ValueError("never reached: the batch cannot be recorded as started")
    assert ran == []  # nothing runs that could not be recorded


def test_a_signal_against_a_web_page_is_not_taken_as_published(html_endpoint: str):
    sns = AwsClients(region=REGION, endpoint_url=html_endpoint).sns()
    with pytest.raises(Exception, match="not an AWS SNS reply") as raised:
        sns.publish(TopicArn=TOPIC, Message="x")
    assert not isinstance(raised.value, KeyError)


def _run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, **env: str
) -> tuple[int, str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


COMMANDS = [
    ["failed"],
    ["failed", "--job", "ingest"],
    ["status", "ingest"],
    ["history", "ingest", "2024-09"],
    ["jobs"],
    ["policy", "show", "ingest"],
    ["replay", "ingest", "--all-failed", "--dry-run"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_every_read_command_prints_one_line_naming_the_endpoint(
    foreign: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any
):
    code, out, err = _run(
        monkeypatch,
        capsys,
        *argv,
        AWS_ENDPOINT_URL=foreign,
        REMEDIATOR_TABLE_NAME="pipeline-audit",
        REMEDIATOR_TOPIC_ARN=TOPIC,
    )
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert err.count("\n") == 1, err
    assert foreign in err, err
    assert "not an AWS" in err, err


def test_doctor_against_a_foreign_endpoint_lists_its_checks_then_the_fix(
    foreign: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
):
    code, out, err = _run(
        monkeypatch,
        capsys,
        "doctor",
        AWS_ENDPOINT_URL=foreign,
        REMEDIATOR_TABLE_NAME="pipeline-audit",
        REMEDIATOR_TOPIC_ARN=TOPIC,
        REMEDIATOR_QUEUE_URL=f"{foreign}/123456789012/signals",
    )
    assert code == 1, out
    assert not err, err
    assert "Traceback" not in out
    checks, _, problems = out.partition("problem(s) found:")
    assert "ok    configuration" in checks
    assert "FAIL  credentials" in checks
    assert "credentials        fix: point AWS_ENDPOINT_URL" in problems


def test_a_wrong_region_names_the_region_and_the_topics_own(
    settings_kwargs: dict[str, Any], moto_endpoint: str, monkeypatch: Any, capsys: Any
):
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "eu-west-1",
        "REMEDIATOR_TABLE_NAME": settings_kwargs["table_name"],
        "REMEDIATOR_TOPIC_ARN": settings_kwargs["topic_arn"],
        "REMEDIATOR_QUEUE_URL": settings_kwargs["queue_url"],
    }
    code, out, err = _run(monkeypatch, capsys, "status", new_id(), **env)
    assert code == 1
    assert "Traceback" not in out + err
    assert "does not exist in region eu-west-1" in err
    assert "REMEDIATOR_TOPIC_ARN is in us-east-1: is AWS_REGION=us-east-1 meant?" in err
    code, out, err = _run(monkeypatch, capsys, "doctor", **env)
    assert code == 1
    assert "Traceback" not in out + err
    assert "REMEDIATOR_TOPIC_ARN names region us-east-1, the clients use eu-west-1" in out
    assert "run `remediator bootstrap`" not in out.partition("problem(s) found:")[0]


def test_a_setting_out_of_range_gets_a_fix_naming_it(monkeypatch: Any, capsys: Any):
    code, out, _ = _run(monkeypatch, capsys, "doctor", REMEDIATOR_MAX_ATTEMPTS="0")
    assert code == 1
    assert "fix: set REMEDIATOR_MAX_ATTEMPTS to a value the rule above allows" in out
    assert "or unset it for its default (3)" in out


def test_version_prints_the_package_version(capsys: Any):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"remediator {version('self-healing-pipelines')}\n"
