"""`explain` and `policy test` as a person reads them: a label per line. Pure: strings out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from observability.retry.backoff import RetryRule
from remediator.ops.explain import Explanation, RuleTest
from remediator.ops.schedule import Delay, GiveUp, Match
from remediator.views.render import Style, due, relative

__all__ = ["describe_rule", "explanation", "rule_test"]

_LABEL = 11


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _line(label: str, text: str) -> str:
    return f"  {label:<{_LABEL}}{text}"


def _more(texts: Sequence[str]) -> list[str]:
    return [_line("", t) for t in texts]


def describe_rule(rule: RetryRule) -> str:
    """`up to 5 attempts, 60 s doubling to at most 3600 s, full jitter, max age 1 h`."""
    growth = "doubling" if rule.backoff_rate == 2.0 else f"x{rule.backoff_rate:g} each time"
    text = f"up to {rule.max_attempts} attempts, delays {_seconds(rule.base_seconds)} {growth}"
    text += f" to at most {_seconds(rule.max_seconds)}"
    text += ", full jitter" if rule.jitter == "full" else ", no jitter"
    if rule.max_age_seconds:
        text += f", max age {_seconds(rule.max_age_seconds)}"
    if rule.wait_until is not None:
        text += f", and not before the next {rule.wait_until}"
    if rule.quarantine:
        return "quarantined: never retried; an alert names the rule"
    return text


def _found(found: Match) -> str:
    if found.rule is None:
        by = f"{found.matched} " if found.matched else ""
        return f"never retried: {by}(from the {found.layer.value} policy)"
    how = f", matched by {found.matched}" if found.matched else ", its default rule"
    return f'"{found.name}" from the {found.layer.value} layer{how}'


def _delay(d: Delay, cap: int) -> str:
    span = f"{_seconds(d.high)}" if d.low == d.high else f"between {d.low:g} and {_seconds(d.high)}"
    return f"attempt {d.attempt} of {cap}: {span} after attempt {d.attempt - 1} fails"


def _ends(ends: GiveUp, now: datetime | None) -> list[str]:
    lines = [f"after attempt {ends.cap} of {ends.cap}"]
    if ends.deadline:
        when = f" ({relative(ends.deadline, now)})" if now else ""
        lines.append(f"or at {ends.deadline}{when}: max age {_seconds(ends.max_age_seconds or 0)}")
    elif ends.max_age_seconds:
        lines.append(f"or {_seconds(ends.max_age_seconds)} after the first failure (max age)")
    if ends.latest:
        lines.append(f"last retry by {ends.latest} at the latest, if every run fails at once")
    return lines


def explanation(e: Explanation, now: datetime, style: Style) -> str:
    s = e.state
    head = f"{style.bold(f'{s.job_id}/{s.batch_id}')}: {style.status(s.status.value)}, attempt "
    failing = s.status.value == "FAILED" and e.cap
    head += f"{s.episode_attempt} of {e.cap} in this episode" if failing else f"{s.attempt}"
    lines = [head]
    if s.error_type:
        code = f" [{s.error_code}]" if s.error_code else ""
        lines.append(_line("error", f"{s.error_type}{code}: {s.error_message or ''}".rstrip(": ")))
    lines.append(_line("rule", _found(e.found)))
    if e.found.rule is not None:
        lines.append(_line("", describe_rule(e.found.rule)))
    if s.first_failed_at:
        lines.append(_line("episode", f"first failure {s.first_failed_at}"))
        lines += _more([f"attempt {f.attempt} failed at {f.at}: {f.error}" for f in e.failures])
    if e.next_retry_at:
        nxt = e.delays[0].attempt if e.delays else s.episode_attempt + 1
        lines.append(
            _line("next", f"attempt {nxt} at {e.next_retry_at} ({due(e.next_retry_at, now)})")
        )
    later = e.delays[1:] if e.next_retry_at else e.delays
    if later:
        lines.append(_line("then" if e.next_retry_at else "delays", _delay(later[0], e.cap)))
        lines += _more([_delay(d, e.cap) for d in later[1:]])
    if e.runs:
        lines.append(_line("runs with", e.runs[0]))
        lines += _more(e.runs[1:])
    if e.ends is not None and s.status.value == "FAILED":
        first, *rest = _ends(e.ends, now)
        lines.append(_line("gives up", first))
        lines += _more(rest)
    if e.reasons:
        first_reason, *others = e.reasons
        lines.append(_line("not now", first_reason.detail))
        lines += _more([r.detail for r in others])
    else:
        lines.append(_line("now", "due: the next sweep or signal re-triggers it"))
    lines += [_line("note", n) for n in e.notes]
    return "\n".join(lines)


def rule_test(t: RuleTest) -> str:
    head = f"job {t.job_id}, a first failure with {t.error.type}"
    if t.error.code:
        head += f" [{t.error.code}]"
    if t.error.message:
        head += f": {t.error.message}"
    lines = [head, _line("rule", _found(t.found))]
    if t.found.rule is None or t.found.rule.quarantine:
        lines.append(_line("then", "EXHAUSTED at once, and an alert"))
        return "\n".join(lines)
    lines.append(_line("", describe_rule(t.found.rule)))
    cap = t.found.rule.max_attempts
    if t.delays:
        lines.append(_line("delays", _delay(t.delays[0], cap)))
        lines += _more([_delay(d, cap) for d in t.delays[1:]])
    if t.runs:
        lines.append(_line("runs with", t.runs[0]))
        lines += _more(t.runs[1:])
    if t.ends is not None:
        first, *rest = _ends(t.ends, None)
        lines.append(_line("gives up", first))
        lines += _more(rest)
    return "\n".join(lines)
