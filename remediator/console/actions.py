"""The operator's verbs from the console: a plan that says exactly what would be written
(shown on the confirmation page, read only), then the write, through the functions the
CLI's `replay`, `resolve`, `cancel`, `pause`, `resume` and `operations cancel` call.

A verb's parameters are the form's fields: `job`, `batches` (ids separated by spaces or
commas), `reason`, `note`, `until`, `operator`, the bulk filter's fields, `operation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from observability.errors import InvalidInput
from observability.models import BatchState, Status
from remediator.cli.context import UsageError, parse_until
from remediator.console.backend import Backend
from remediator.console.reads import bulk_filter
from remediator.errors import RemediatorError
from remediator.ops import close, operations
from remediator.ops import pause as pausing
from remediator.ops import replay as replaying
from remediator.ops.identity import Actor

__all__ = ["VERBS", "Done", "Plan", "Refused", "act", "plan"]


class Refused(RemediatorError):
    """The verb cannot be done as asked; nothing was written."""


@dataclass(frozen=True)
class Plan:
    """What the confirmation page shows, and the fields its form posts back."""

    verb: str
    title: str
    writes: list[str]  # one line per write, as it will be made
    fields: dict[str, str]
    count: int
    back: str  # the page to return to


@dataclass(frozen=True)
class Done:
    title: str
    lines: list[str] = field(default_factory=list)
    back: str = "/"
    ok: bool = True


def _batches(params: Mapping[str, str]) -> list[str]:
    found = params.get("batches", "").replace(",", " ").split()
    if not found:
        raise Refused("name at least one batch")
    return found


def _job(params: Mapping[str, str]) -> str:
    job = params.get("job", "").strip()
    if not job:
        raise Refused("name the job")
    return job


def _back(params: Mapping[str, str]) -> str:
    batches = params.get("batches", "").split()
    if len(batches) == 1:
        return f"/jobs/{params.get('job', '')}/batches/{batches[0]}"
    return f"/jobs/{params['job']}" if params.get("job") else "/failures"


def _keep(params: Mapping[str, str], *names: str) -> dict[str, str]:
    return {n: params[n] for n in names if params.get(n)}


def _who(actor: Actor) -> str:
    return f"actor {actor}"


def _replay_plan(backend: Backend, params: Mapping[str, str], actor: Actor) -> Plan:
    job, store, now = _job(params), backend.store(), backend.now()
    chosen = replaying.select(store, job, now, batch_ids=_batches(params))
    reason = params.get("reason", "").strip()
    writes = [
        f"{p['job_id']}/{p['batch_id']}: {p['status']} -> RETRYING, event REPLAY_TRIGGERED, "
        f"attempt {p['next_attempt']} (a new episode), {_who(actor)}"
        + (f", reason {reason!r}" if reason else "")
        + "; then its trigger is fired"
        for p in replaying.plan(chosen)
    ]
    fields = _keep(params, "job", "batches", "reason", "operator")
    return Plan(
        "replay",
        f"replay {len(chosen)} batch(es) of {job}",
        writes,
        fields,
        len(chosen),
        _back(params),
    )


def _close_plan(backend: Backend, params: Mapping[str, str], actor: Actor, verb: str) -> Plan:
    job = _job(params)
    text_field = "note" if verb == "resolve" else "reason"
    text = close.checked_text(f"--{text_field}", params.get(text_field, ""))
    allowed = close.RESOLVABLE if verb == "resolve" else close.CANCELLABLE
    done_as = "resolved" if verb == "resolve" else "cancelled"
    chosen = close.select(
        backend.store(), job, _batches(params), backend.now(), allowed=allowed, verb=done_as
    )
    becomes = Status.RESOLVED.value if verb == "resolve" else "EXHAUSTED (cancelled)"
    writes = [
        f"{p['job_id']}/{p['batch_id']}: {p['status']} -> {p['becomes']}, event "
        f"{'RESOLVED' if verb == 'resolve' else 'EXHAUSTED'}, {_who(actor)}, {text_field} {text!r}"
        for p in close.plan(chosen, becomes)
    ]
    if verb == "resolve":
        writes += [
            f"{s.batch_id}: its alert resolved (a RECOVERED signal on the topic)"
            for s in chosen
            if s.alerted
        ]
    fields = _keep(params, "job", "batches", text_field, "operator")
    return Plan(
        verb, f"{verb} {len(chosen)} batch(es) of {job}", writes, fields, len(chosen), _back(params)
    )


def _pause_plan(backend: Backend, params: Mapping[str, str], actor: Actor) -> Plan:
    now = backend.now()
    scope = pausing.Scope.of(_job(params), None)
    until = params.get("until", "").strip()
    planned = pausing.plan_pause(
        scope,
        actor=actor,
        now=now,
        reason=params.get("reason", ""),
        until=parse_until(until, now) if until else None,
    )
    ends = f" until {planned.until}" if planned.until else " until resumed"
    writes = [
        f"the pauses item: job {scope.name} PAUSED{ends}, {_who(actor)}, reason "
        f"{planned.reason!r} (replacing any pause of the job)"
    ]
    return Plan(
        "pause",
        f"pause job {scope.name}",
        writes,
        _keep(params, "job", "reason", "until", "operator"),
        1,
        f"/jobs/{scope.name}",
    )


def _resume_plan(backend: Backend, params: Mapping[str, str], actor: Actor) -> Plan:
    scope = pausing.Scope.of(_job(params), None)
    held = pausing.pauses(backend.clients, backend.settings.table_name).job(
        scope.name, backend.now()
    )
    if held is None:
        raise Refused(f"job {scope.name!r} is not paused: nothing to resume")
    writes = [
        f"the pauses item: job {scope.name}'s pause (by {held.actor}: {held.reason!r}) "
        f"marked resumed, {_who(actor)}",
        f"job {scope.name}'s circuit closed if open",
    ]
    return Plan(
        "resume",
        f"resume job {scope.name}",
        writes,
        _keep(params, "job", "operator"),
        1,
        f"/jobs/{scope.name}",
    )


_BULK_FIELDS = ("job", "status", "error_type", "error_match", "rule", "since")


def _bulk_selection(backend: Backend, params: Mapping[str, str]) -> tuple[Any, list[BatchState]]:
    flt = bulk_filter(dict(params), backend.now())
    return flt, operations.select(
        backend.store(), backend.now(), flt, shards=backend.settings.retry_shards
    )


def _bulk_plan(backend: Backend, params: Mapping[str, str], actor: Actor) -> Plan:
    flt, chosen = _bulk_selection(backend, params)
    if not chosen:
        raise Refused("the filter selects no batch: nothing to store")
    shown = [f"{s.job_id}/{s.batch_id} ({s.status.value}, attempt {s.attempt})" for s in chosen]
    writes = [
        f"an operation item: {len(chosen)} batch(es), filter {flt.as_dict()}, at most 10 "
        f"in flight, {_who(actor)}; the service re-triggers them",
        *shown[:50],
    ]
    if len(shown) > 50:
        writes.append(f"... and {len(shown) - 50} more")
    return Plan(
        "bulk",
        f"store an operation replaying {len(chosen)} batch(es)",
        writes,
        _keep(params, *_BULK_FIELDS, "reason", "operator"),
        len(chosen),
        "/failures",
    )


def _cancel_op_plan(backend: Backend, params: Mapping[str, str], actor: Actor) -> Plan:
    op = operations.show(backend.operations(), params.get("operation", ""), backend.now())
    writes = [
        f"operation {op.operation_id}: cancelled ({op.progress()['left']} not started "
        f"never start; what runs finishes), {_who(actor)}"
    ]
    return Plan(
        "cancel-operation",
        f"cancel operation {op.operation_id}",
        writes,
        {"operation": op.operation_id, **_keep(params, "operator")},
        1,
        f"/operations/{op.operation_id}",
    )


_PLANS: dict[str, Callable[[Backend, Mapping[str, str], Actor], Plan]] = {
    "replay": _replay_plan,
    "resolve": lambda b, p, a: _close_plan(b, p, a, "resolve"),
    "cancel": lambda b, p, a: _close_plan(b, p, a, "cancel"),
    "pause": _pause_plan,
    "resume": _resume_plan,
    "bulk": _bulk_plan,
    "cancel-operation": _cancel_op_plan,
}
VERBS = frozenset(_PLANS)


def plan(backend: Backend, verb: str, params: Mapping[str, str]) -> Plan:
    """What `verb` would write; Refused (one line) when it cannot be done. Reads only."""
    if verb not in _PLANS:
        raise Refused(f"no such action {verb!r}; known: {', '.join(sorted(VERBS))}")
    try:
        return _PLANS[verb](backend, params, backend.actor(params.get("operator")))
    except (InvalidInput, UsageError, RemediatorError) as exc:
        raise Refused(str(exc)) from None


def act(backend: Backend, verb: str, params: Mapping[str, str]) -> Done:
    """Plan again (the batches as they stand now), then write: each write is conditional on
    what was read, so a batch that moved on since is reported, never written over."""
    planned = plan(backend, verb, params)
    try:
        return _act(backend, verb, params, planned)
    except (InvalidInput, UsageError, RemediatorError) as exc:
        raise Refused(str(exc)) from None


def _act(backend: Backend, verb: str, params: Mapping[str, str], planned: Plan) -> Done:
    actor = backend.actor(params.get("operator"))
    now, back = backend.now(), planned.back
    if verb == "replay":
        chosen = replaying.select(backend.store(), params["job"], now, batch_ids=_batches(params))
        results = replaying.replay_all(
            backend.remediator(), chosen, actor=actor, reason=params.get("reason") or None
        )
        lines = [f"{r['batch_id']}: {r['outcome']}" for r in results]
        return Done(planned.title, lines, back, all(r["outcome"] == "triggered" for r in results))
    if verb in ("resolve", "cancel"):
        allowed = close.RESOLVABLE if verb == "resolve" else close.CANCELLABLE
        chosen = close.select(
            backend.store(),
            params["job"],
            _batches(params),
            now,
            allowed=allowed,
            verb=f"{verb}{'d' if verb == 'resolve' else 'led'}",
        )
        if verb == "resolve":
            results = close.resolve(
                backend.store(),
                backend.notifier(),
                chosen,
                actor=actor,
                note=params.get("note", ""),
                now=now,
                table=backend.table(),
            )
        else:
            results = close.cancel(
                backend.store(),
                chosen,
                actor=actor,
                reason=params.get("reason", ""),
                now=now,
                table=backend.table(),
            )
        lines = [f"{r['batch_id']}: {r['outcome']} {r.get('detail', '')}".rstrip() for r in results]
        return Done(planned.title, lines, back, all(r["outcome"] != "conflict" for r in results))
    if verb == "pause":
        until = params.get("until", "").strip()
        written = pausing.plan_pause(
            pausing.Scope.of(params["job"], None),
            actor=actor,
            now=now,
            reason=params.get("reason", ""),
            until=parse_until(until, now) if until else None,
        )
        pausing.pause(backend.clients, backend.settings.table_name, written)
        return Done(planned.title, [f"paused by {actor}"], back)
    if verb == "resume":
        result = pausing.resume(
            backend.clients,
            backend.settings.table_name,
            pausing.Scope.of(params["job"], None),
            actor=actor,
            now=now,
        )
        closed = " (its open circuit closed)" if result["circuit_closed"] else ""
        return Done(planned.title, [f"resumed by {actor}{closed}"], back)
    if verb == "bulk":
        flt, chosen = _bulk_selection(backend, params)
        op = operations.create(
            backend.operations(),
            chosen,
            flt,
            actor=actor,
            now=now,
            max_in_flight=10,
            rate=None,
            reason=params.get("reason") or None,
            max_attempts=None,
            ttl_days=backend.settings.ttl_days,
        )
        return Done(
            planned.title,
            [f"operation {op.operation_id} stored: {op.total} batch(es)"],
            f"/operations/{op.operation_id}",
        )
    cancelled, after = operations.cancel(
        backend.operations(), params["operation"], actor=actor, now=now
    )
    return Done(planned.title, [f"operation {after.operation_id}: {after.state}"], back, cancelled)
