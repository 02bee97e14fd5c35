"""The console over HTTP on the demo's stack: what a page shows, and what a write needs
(a token from the console's own page, its own Origin and Host). Refused writes write
nothing; a GET never writes; a read-only console shows and does no action."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from remediator.bulk.items import OperationItems
from remediator.ops import pause as pausing
from remediator.stack.demo import BROKEN, FLAKY, JOB
from tests.conftest import MOTO_ARN
from tests.integration.console_stack import DemoConsole, Reply, demo_console, request


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoConsole]:
    with demo_console() as made:
        yield made


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the confirmation page carries the token"
    return found.group(1)


def _confirm(stack: DemoConsole) -> tuple[str, dict[str, str]]:
    """The replay's confirmation page of month 9: its form's token and fields."""
    page = request(f"{stack.url}confirm/replay?job={JOB}&batches={BROKEN}&reason=fixed")
    assert page.status == 200, page.body
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.body))
    assert fields["job"] == JOB
    assert fields["batches"] == BROKEN
    return _token(page.body), fields


def test_the_jobs_page_lists_the_demo_job(stack: DemoConsole) -> None:
    page = request(stack.url)
    assert page.status == 200
    assert f'data-job="{JOB}"' in page.body
    assert "arn:aws:sts::123456789012:user/moto" in page.body  # the caller, in the header


def test_the_grid_shows_each_month_with_its_status(stack: DemoConsole) -> None:
    page = request(f"{stack.url}jobs/{JOB}")
    cells = dict(re.findall(r'data-batch="([^"]+)" data-status="(\w+)"', page.body))
    assert len(cells) == 12
    assert cells[BROKEN] == "EXHAUSTED"
    assert cells[FLAKY] == "SUCCESS"
    only = request(f"{stack.url}jobs/{JOB}?status=EXHAUSTED")
    assert re.findall(r'data-batch="([^"]+)"', only.body) == [BROKEN]
    by_text = request(f"{stack.url}jobs/{JOB}?error=quantity+is+negative")
    assert re.findall(r'data-batch="([^"]+)"', by_text.body) == [BROKEN]


def test_a_large_job_is_paged_and_filtered(stack: DemoConsole) -> None:
    from bench.console import JOB as LARGE
    from bench.console import _fill

    _fill(stack.demo.clients, stack.demo.settings.table_name, datetime.now(UTC), 1_100)
    first = request(f"{stack.url}jobs/{LARGE}")
    assert first.status == 200
    assert first.body.count('class="cell ') == 500
    assert "500 of 1100 shown" not in first.body  # the count is of the filter, not the page
    assert "1100 of 1100 shown, page 1 of 3" in first.body
    last = request(f"{stack.url}jobs/{LARGE}?page=3")
    assert re.findall(r'data-batch="([^"]+)"', last.body)[:1] == ["001000"]
    assert last.body.count('class="cell ') == 100
    exhausted = request(f"{stack.url}jobs/{LARGE}?status=EXHAUSTED")
    assert re.findall(r'data-batch="([^"]+)"', exhausted.body) == [
        f"{n:06d}" for n in range(0, 1_100, 200)
    ]
    for chip in ("EXHAUSTED 6", "FAILED 16", "SUCCESS 1078"):  # the whole job's counts
        assert f">{chip}<" in exhausted.body


def test_a_batch_page_tells_its_story_and_trace(stack: DemoConsole) -> None:
    page = request(f"{stack.url}jobs/{JOB}/batches/{FLAKY}")
    assert page.body.count('class="ev ') == 5  # STARTED FAILED RETRY_TRIGGERED STARTED SUCCESS
    assert "RETRY_TRIGGERED" in page.body
    assert "batch run 2024-05 attempt 2 (worker): SUCCESS" in page.body  # the waterfall
    assert "sqs/v3/home?region=" in page.body  # the trigger's queue in the AWS console
    assert "xray:traces/1-" in page.body


def test_an_unknown_job_is_named_not_shown_empty(stack: DemoConsole) -> None:
    page = request(f"{stack.url}jobs/no-such-job")
    assert page.status == 404
    assert "no batches recorded for job &#39;no-such-job&#39;" in page.body


def test_the_confirmation_page_writes_nothing(stack: DemoConsole) -> None:
    before = stack.state()
    _confirm(stack)
    assert stack.state().version == before.version


@pytest.mark.parametrize(
    ("drop", "headers", "why"),
    [
        ("csrf", {}, "token is missing or wrong"),
        (None, {"Origin": "http://evil.example"}, "not from this console"),
        (None, {"Origin": "null"}, "not from this console"),
        (None, {"Host": "evil.example"}, "is not this console"),
    ],
)
def test_a_post_not_from_the_console_is_refused_and_writes_nothing(
    stack: DemoConsole, drop: str | None, headers: dict[str, str], why: str
) -> None:
    token, fields = _confirm(stack)
    before = stack.state()
    origin = stack.url.rstrip("/")
    sent = {**fields, "csrf": token}
    if drop:
        sent.pop(drop)
    reply = request(f"{stack.url}act/replay", sent, **{"Origin": origin, **headers})
    assert reply.status == 403, reply.body
    assert why in reply.body
    assert stack.state().version == before.version  # nothing written
    assert stack.state().status.value == "EXHAUSTED"


def test_a_wrong_token_is_refused(stack: DemoConsole) -> None:
    _, fields = _confirm(stack)
    reply = request(
        f"{stack.url}act/replay", {**fields, "csrf": "x" * 43}, Origin=stack.url.rstrip("/")
    )
    assert reply.status == 403


def test_a_page_asked_for_under_another_host_name_is_refused(stack: DemoConsole) -> None:
    reply = request(f"{stack.url}jobs/{JOB}", Host="rebound.example")
    assert reply.status == 403
    assert JOB not in reply.body
    assert request(stack.url.replace("127.0.0.1", "localhost")).status == 200


def test_no_cors_header_and_no_framing(stack: DemoConsole) -> None:
    reply = request(stack.url, Origin="http://evil.example")
    lowered = {k.lower(): v for k, v in reply.headers.items()}
    assert not [k for k in lowered if k.startswith("access-control-")]
    assert "frame-ancestors 'none'" in lowered["content-security-policy"]
    assert lowered["x-frame-options"] == "DENY"


def test_a_read_only_console_shows_no_action_and_refuses_posts(stack: DemoConsole) -> None:
    token, fields = _confirm(stack)
    console = stack.serve(read_only=True)
    try:
        for path in ("", f"jobs/{JOB}", f"jobs/{JOB}/batches/{BROKEN}", "failures"):
            page = request(f"{console.url}{path}")
            assert page.status == 200
            assert "/confirm/" not in page.body, path
            assert "read-only" in page.body
        assert request(f"{console.url}confirm/replay?job={JOB}&batches={BROKEN}").status == 403
        before = stack.state()
        sent = {**fields, "csrf": console.guard.token}
        reply = request(f"{console.url}act/replay", sent, Origin=console.url.rstrip("/"))
        assert reply.status == 403
        assert "read-only" in reply.body
        assert stack.state().version == before.version
    finally:
        console.stop()
    assert token != console.guard.token  # a token per process


def test_failures_select_what_replay_would(stack: DemoConsole) -> None:
    page = request(f"{stack.url}failures")
    assert re.findall(r'batches/([^"]+)"', page.body) == [BROKEN]
    assert "/confirm/bulk" in page.body
    none = request(f"{stack.url}failures?status=FAILED")
    assert "0 batch(es)" in none.body


def test_bad_input_is_named_in_one_line(stack: DemoConsole) -> None:
    reply = request(f"{stack.url}jobs/{JOB}?status=BOGUS")
    assert reply.status == 400
    assert "status &#39;BOGUS&#39;: one of" in reply.body
    reply = request(f"{stack.url}confirm/resolve?job={JOB}&batches={BROKEN}&note=")
    assert reply.status == 400
    assert "--note" in reply.body


def _act(stack: DemoConsole, verb: str, query: str) -> Reply:
    """The verb as a person does it: its confirmation page, then that page's form posted."""
    page = request(f"{stack.url}confirm/{verb}?{query}")
    assert page.status == 200, page.body
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.body)
    fields = {k: html.unescape(v) for k, v in hidden}
    return request(f"{stack.url}act/{verb}", fields, Origin=stack.url.rstrip("/"))


def test_pause_and_resume_from_the_job_page(stack: DemoConsole) -> None:
    held = lambda: pausing.pauses(stack.demo.clients, stack.demo.settings.table_name)  # noqa: E731
    try:
        done = _act(stack, "pause", f"job={JOB}&reason=warehouse+maintenance&until=2h")
        assert done.status == 200, done.body
        pause = held().job(JOB, datetime.now(UTC))
        assert pause is not None
        assert (pause.actor, pause.reason) == (MOTO_ARN, "warehouse maintenance")
        page = request(f"{stack.url}jobs/{JOB}")
        assert "PAUSED</span> by <code>arn:aws:sts::123456789012:user/moto</code>" in page.body
        assert "/confirm/resume" in page.body
    finally:
        done = _act(stack, "resume", f"job={JOB}")
    assert done.status == 200, done.body
    assert held().job(JOB, datetime.now(UTC)) is None
    assert "/confirm/pause" in request(f"{stack.url}jobs/{JOB}").body


def test_a_bulk_replay_is_stored_and_its_page_follows_it(stack: DemoConsole) -> None:
    reply = _act(stack, "bulk", f"job={JOB}&reason=row+checked")
    assert reply.status == 200, reply.body  # the operation's page, after a 303
    [op_id] = re.findall(r"<h1>Operation ([\w-]+)</h1>", reply.body)
    items = OperationItems(stack.demo.clients, stack.demo.settings.table_name)
    op = items.get(op_id, datetime.now(UTC))
    assert (op.total, op.created_by, op.reason) == (1, MOTO_ARN, "row checked")
    deadline = time.monotonic() + 30
    while items.get(op_id, datetime.now(UTC)).state != "DONE":
        assert time.monotonic() < deadline, "the service did not carry the operation out"
        time.sleep(0.3)
    page = request(f"{stack.url}operations/{op_id}")
    assert 'id="op-state">DONE' in page.body
    # Month 9's record is still bad: its re-run fails and, never retried, is EXHAUSTED again.
    while stack.state().status.value != "EXHAUSTED":
        assert time.monotonic() < deadline + 30
        time.sleep(0.3)
    events = [e.event.value for e in stack.demo.pipeline.history(JOB, BROKEN)]
    assert "REPLAY_TRIGGERED" in events


def test_a_table_that_cannot_be_read_is_named_in_one_line(stack: DemoConsole) -> None:
    from remediator.console.backend import Backend
    from remediator.console.server import Console

    settings = stack.demo.settings.model_copy(update={"table_name": "no-such-table"})
    console = Console(Backend(settings, stack.demo.clients)).start()
    try:
        for path in ("", "operations", f"jobs/{JOB}", "failures"):
            reply = request(f"{console.url}{path}")
            assert reply.status in (400, 404, 503), (path, reply.status)
            assert "no-such-table" in reply.body or "no batches recorded" in reply.body, path
    finally:
        console.stop()


def test_the_bench_section_times_the_page_against_status(moto_endpoint: str) -> None:
    from bench.console import run

    figures, details = run(moto_endpoint, 120, 1)
    assert [f.key for f in figures] == [
        "console_job_page_time_vs_status",
        "console_job_page_bytes_vs_status",
    ]
    assert details["batches"] == 120
    assert 0 < details["page_bytes"] < details["status_bytes"]
    assert all(f.value and f.value > 0 for f in figures)


def test_the_console_command_serves_with_this_shell_settings(stack: DemoConsole) -> None:
    import os
    import signal
    import subprocess
    import sys

    from remediator.stack.demo import keep_exports

    lines = keep_exports(stack.demo.resources, stack.demo.settings, stack.demo.endpoint)
    env = {**os.environ, **dict(line.removeprefix("export ").split("=", 1) for line in lines)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "console", "--port", "0", "--read-only"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        said = proc.stdout.readline()
        assert "read-only, as arn:aws:sts::123456789012:user/moto" in said, said
        url = said.split()[1]
        page = request(f"{url}jobs/{JOB}")
        assert f'data-batch="{BROKEN}"' in page.body
        assert "/confirm/" not in page.body
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0, proc.stderr.read() if proc.stderr else ""
