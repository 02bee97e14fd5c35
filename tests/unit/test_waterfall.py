"""The terminal waterfall: tree order, offsets, durations and bars on one time scale."""

from __future__ import annotations

from remediator.views.waterfall import SpanLine, label, waterfall

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000


def line(name: str, sid: str, parent: str | None, start: int, end: int, **attrs: object):
    return SpanLine(name, sid, parent, start * MS, end * MS, attrs)


def test_children_follow_their_parent_in_time_order_and_orphans_are_top_level():
    spans = [
        line("SNS.Publish", "c", "a", 30, 40, **{"audit.events": ["FAILED"]}),
        line("batch run", "a", None, 0, 50, **{"pipeline.batch_id": "2024-05"}),
        line("DynamoDB.PutItem", "b", "a", 1, 10, **{"audit.events": ["STARTED"]}),
        line("remediate", "d", "c", 60, 90),
        # Joined the trace by its id: its parent was never recorded here.
        line("remediate", "e", "missing", 100, 200),
    ]
    out = waterfall(TRACE, spans).splitlines()
    assert out[0] == f"trace {TRACE}  (X-Ray: 1-4bf92f35-77b34da6a3ce929d0e0e4736)"
    # Columns: offset (8), duration (9), then the label, indented by depth.
    texts = [row[23:].split("|")[0].rstrip() for row in out[1:]]
    assert texts[0].startswith("batch run 2024-05")
    assert texts[1].strip() == "DynamoDB.PutItem STARTED"
    assert texts[2].strip() == "SNS.Publish FAILED"
    assert texts[3].strip().startswith("remediate")
    assert texts[3].startswith("    ")  # grandchild: two levels in
    assert not texts[4].startswith(" ")  # the orphan is at the top level


def test_offsets_durations_and_bars_share_one_scale():
    spans = [line("a", "1", None, 0, 100), line("b", "2", "1", 50, 100)]
    first, second = waterfall(TRACE, spans, width=10).splitlines()[1:]
    assert first.split()[:3] == ["+0.000s", "100.0", "ms"]
    assert second.split()[:3] == ["+0.050s", "50.0", "ms"]
    assert first.endswith("|██████████|")
    assert second.endswith("|     █████|")


def test_a_short_span_still_shows_and_errors_are_marked():
    spans = [
        line("a", "1", None, 0, 1000),
        SpanLine("b", "2", "1", 999 * MS, 1000 * MS - 1, {}, error=True),
    ]
    rows = waterfall(TRACE, spans, width=10).splitlines()[1:]
    assert rows[1].endswith("|         █|")
    assert " b !" in rows[1]


def test_labels_say_what_the_span_did():
    run = line(
        "batch run",
        "1",
        None,
        0,
        1,
        **{
            "pipeline.batch_id": "2024-05",
            "pipeline.attempt": 2,
            "pipeline.actor": "worker",
            "pipeline.outcome": "SUCCESS",
        },
    )
    assert label(run) == "batch run 2024-05 attempt 2 (worker): SUCCESS"
    fix = line(
        "remediate",
        "2",
        None,
        0,
        1,
        **{
            "remediator.via": "signal",
            "remediator.replica": "r-1",
            "remediator.outcome": "triggered",
        },
    )
    assert label(fix) == "remediate (signal, r-1): triggered"
    assert label(line("re-trigger sqs", "3", None, 0, 1)) == "re-trigger sqs"
    claim = line("DynamoDB.UpdateItem", "4", None, 0, 1, **{"audit.status": "RETRYING"})
    assert label(claim) == "DynamoDB.UpdateItem -> RETRYING"
    archive = line("DynamoDB.PutItem", "5", None, 0, 1, **{"audit.archive": True})
    assert label(archive) == "DynamoDB.PutItem (archive)"


def test_no_spans_says_so():
    assert "(no spans recorded)" in waterfall("trace-1", [])
    assert "X-Ray" not in waterfall("trace-1", [])
