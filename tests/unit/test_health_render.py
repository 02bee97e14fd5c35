"""Health reporting and the text people read: pure, no network except loopback."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from rich.cells import cell_len

from observability.models import BatchState, Status, iso
from remediator.ops.status import shown_attempt
from remediator.service.health import HealthServer, Heartbeats
from remediator.views.render import Style, due, relative, status_table, table

ESCAPES = re.compile("\033\\[[0-9;]*m")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_health_fails_when_a_loop_stops_turning():
    clock = FakeClock()
    beats = Heartbeats(90, clock=clock)
    assert beats.report()[0] is False  # no loop has started yet
    beats.tick("poll")
    beats.tick("sweep")
    assert beats.report()[0] is True
    clock.now += 60
    beats.tick("poll")
    clock.now += 40
    healthy, body = beats.report()
    assert healthy is False
    assert body["loops"] == {"poll": 40.0, "sweep": 100.0}
    beats.tick("sweep")
    assert beats.report()[0] is True
    beats.stopping = True
    assert beats.report()[0] is False


def test_health_endpoint_over_http():
    clock = FakeClock()
    beats = Heartbeats(90, clock=clock)
    server = HealthServer(beats, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        beats.tick("poll")
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as reply:  # noqa: S310
            assert reply.status == 200
            assert json.loads(reply.read())["status"] == "ok"
        clock.now += 1000
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{url}/healthz", timeout=5)  # noqa: S310
        assert failed.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{url}/other", timeout=5)  # noqa: S310
        assert missing.value.code == 404
    finally:
        server.stop()


def test_relative_times_read_at_a_glance():
    now = datetime(2024, 5, 1, tzinfo=UTC)
    assert relative(iso(now + timedelta(seconds=90)), now) == "in 1m"
    assert relative(iso(now - timedelta(hours=2)), now) == "2.0h ago"
    assert relative(iso(now - timedelta(days=3)), now) == "3.0d ago"
    assert relative(None, now) == ""


def test_a_due_time_in_the_past_is_due_now_not_ago():
    now = datetime(2024, 5, 1, tzinfo=UTC)
    assert due(iso(now + timedelta(seconds=90)), now) == "in 1m"
    assert due(iso(now), now) == "due now"
    assert due(iso(now - timedelta(seconds=3)), now) == "due now"
    assert due(None, now) == ""


def state(status: Status, attempt: int, **kw: object) -> BatchState:
    return BatchState(job_id="j", batch_id="b", status=status, attempt=attempt, version=3, **kw)  # type: ignore[arg-type]


def test_status_shows_a_retrying_batch_at_the_attempt_its_re_run_will_be():
    assert shown_attempt(state(Status.RETRYING, 1)) == 2
    for status in (Status.STARTED, Status.SUCCESS, Status.FAILED, Status.EXHAUSTED):
        assert shown_attempt(state(status, 1)) == 1
    now = datetime(2024, 5, 1, tzinfo=UTC)
    overdue = state(Status.FAILED, 1, due_pk="FAILED#0", due_at=iso(now - timedelta(seconds=2)))
    text = status_table("j", [state(Status.RETRYING, 1), overdue], now, 3600, Style(False))
    retrying, failed = text.splitlines()[-2:]
    assert retrying.split()[:3] == ["b", "RETRYING", "2"]
    assert "due now" in failed
    assert "ago" not in failed.split("FAILED", 1)[1]


def test_tables_align_with_or_without_colour():
    plain = table(["A", "B"], [["x", "FAILED"], ["longer", "ok"]]).splitlines()
    tty = Style(True)
    coloured = table(["A", "B"], [["x", tty.tag("FAILED")], ["longer", "ok"]], tty).splitlines()
    assert plain[2].index("FAILED") == plain[0].index("B") == plain[3].index("ok")
    assert "\033[" not in "".join(plain)
    assert "\033[31m" in coloured[2]  # red, on a terminal
    assert ESCAPES.sub("", coloured[2]) == plain[2]


def test_wide_characters_take_two_cells_and_the_columns_stay_aligned():
    wide = "二〇二四年五月"  # seven characters, fourteen cells
    lines = table(["BATCH", "STATUS"], [[wide, "FAILED"], ["2024-05", "SUCCESS"]]).splitlines()
    assert lines[2].index("FAILED") == len(wide) + 2  # no padding counted for a second cell
    assert cell_len(lines[2][: lines[2].index("FAILED")]) == lines[3].index("SUCCESS") == 16
    assert lines[0].index("STATUS") == 16


def test_data_cannot_colour_or_move_the_terminal():
    lines = table(["A"], [["x\033[2Jy"]], Style(True)).splitlines()
    assert "\033" not in lines[2]


def test_piped_and_no_color_output_carry_no_escape_codes(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert Style.for_stream(Tty()).colour
    assert not Style.for_stream(io.StringIO()).colour  # a pipe or a file
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Style.for_stream(Tty()).colour
    now = datetime(2024, 5, 1, tzinfo=UTC)
    states = [state(Status.FAILED, 1), state(Status.EXHAUSTED, 3)]
    for style in (Style.for_stream(Tty()), Style.for_stream(io.StringIO())):
        text = status_table("j", states, now, 3600, style)
        assert "FAILED" in text
        assert "\033" not in text


def test_progress_bar_on_a_terminal_and_silence_elsewhere():
    import io

    from remediator.views.render import Progress

    shown = io.StringIO()
    bar = Progress(4, shown, show=True, width=8)
    for _ in range(4):
        bar.step()
    frames = shown.getvalue().split("\r")[1:]
    assert frames[0] == "  [##......] 1/4"
    assert frames[-1] == "  [########] 4/4\n"
    quiet = io.StringIO()
    silent = Progress(4, quiet, show=False)
    silent.step()
    assert quiet.getvalue() == ""
    assert silent.done == 1
