"""The console's routes: pages read through `remediator.console.reads`, verbs through
`remediator.console.actions`. A GET never writes: a verb's GET is its confirmation page;
only a POST from the console's own page (`remediator.console.security`) writes.

Blocking reads and writes run in Starlette's thread pool; the pages are rendered by Jinja2
with autoescape on, and every response forbids framing and foreign scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.errors import InvalidInput, ObservabilityError
from observability.models import TERMINAL_FAILURES, Status
from remediator.cli.context import UsageError
from remediator.console import actions, reads
from remediator.console.backend import Backend
from remediator.console.security import CSRF_FIELD, Guard, Refusal
from remediator.errors import RemediatorError
from remediator.ops import jobs as listing
from remediator.views.render import relative

__all__ = ["build_app"]

_STATIC = Path(__file__).parent / "static"
_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
# What a page's reads can refuse with: one line for the person, never a traceback.
_READ_ERRORS = (InvalidInput, UsageError, RemediatorError, ObservabilityError)


class _Shield:
    """A request must name the console's own Host (a DNS name rebound to loopback cannot
    read a page either); every response gets the security headers, never a CORS header."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host not in self.hosts:
                refused = Response(f"Host {host!r} is not this console's\n", status_code=403,
                                   media_type="text/plain", headers=_HEADERS)  # fmt: skip
                await refused(scope, receive, send)
                return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
                headers += [(k.encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class Pages:
    """The handlers, around one backend and one guard."""

    def __init__(self, backend: Backend, guard: Guard) -> None:
        self.backend = backend
        self.guard = guard
        self.sparks = reads.Sparklines()
        self.env = Environment(
            loader=PackageLoader("remediator.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            csrf_field=CSRF_FIELD,
            statuses=[s.value for s in Status],
            failure_statuses=sorted(s.value for s in TERMINAL_FAILURES),
            attention=listing.ATTENTION,
        )
        self.env.filters["ago"] = lambda stamp: relative(stamp, backend.now()) if stamp else ""

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = self.env.get_template(name).render(
            identity=self.backend.identity,
            identity_error=self.backend.identity_error,
            read_only=self.guard.read_only,
            csrf=self.guard.token,
            **context,
        )
        return HTMLResponse(page, status_code=status)

    def refused(self, message: str, status: int = 400) -> HTMLResponse:
        title = {404: "Not found", 503: "AWS could not be read"}.get(status, "Refused")
        return self.render("refused.html", status=status, message=message, title=title)

    async def jobs(self, request: Request) -> Response:
        try:
            rows = await run_in_threadpool(reads.job_rows, self.backend, self.sparks)
        except _READ_ERRORS as exc:
            return self.refused(str(exc), status=503)
        return self.render("jobs.html", rows=rows)

    async def job(self, request: Request) -> Response:
        job = request.path_params["job"]
        flt = reads.GridFilter.of(dict(request.query_params))
        page = int(request.query_params.get("page", "1") or 1)
        try:
            grid = await run_in_threadpool(reads.grid, self.backend, job, flt, page)
        except _READ_ERRORS as exc:
            return self.refused(str(exc))
        if not grid.total:
            return self.refused(f"no batches recorded for job {grid.job_id!r}", status=404)
        links = {n: urlencode({**flt.query(), "page": n}) for n in range(1, grid.pages + 1)}
        return self.render("job.html", grid=grid, flt=flt, pages=links)

    async def batch(self, request: Request) -> Response:
        job, batch = request.path_params["job"], request.path_params["batch"]
        try:
            found = await run_in_threadpool(reads.batch_page, self.backend, job, batch)
        except _READ_ERRORS as exc:
            return self.refused(str(exc))
        if found.state is None and not found.events:
            return self.refused(f"no record of batch {job}/{batch}", status=404)
        return self.render("batch.html", job=job, batch=batch, page=found)

    async def failures(self, request: Request) -> Response:
        query = dict(request.query_params)
        try:
            flt = reads.bulk_filter(query, self.backend.now())
            found = await run_in_threadpool(reads.failures, self.backend, flt)
        except _READ_ERRORS as exc:
            return self.refused(str(exc))
        return self.render("failures.html", found=found, query=query, bulk=urlencode(query))

    async def operations(self, request: Request) -> Response:
        items = self.backend.operations()
        try:
            found = await run_in_threadpool(items.all, self.backend.now())
        except _READ_ERRORS as exc:
            return self.refused(str(exc), status=503)
        return self.render("operations.html", ops=found)

    async def operation(self, request: Request) -> Response:
        items, op_id = self.backend.operations(), request.path_params["id"]
        try:
            op = await run_in_threadpool(items.get, op_id, self.backend.now())
        except _READ_ERRORS as exc:
            return self.refused(str(exc), status=404)
        return self.render("operation.html", op=op)

    async def confirm(self, request: Request) -> Response:
        """What a verb would write, and the form that writes it (this GET writes nothing)."""
        verb, params = request.path_params["verb"], dict(request.query_params)
        if self.guard.read_only:
            return self.refused("the console is read-only (--read-only): no action", 403)
        try:
            planned = await run_in_threadpool(actions.plan, self.backend, verb, params)
        except actions.Refused as exc:
            return self.refused(str(exc))
        return self.render("confirm.html", plan=planned)

    async def act(self, request: Request) -> Response:
        verb = request.path_params["verb"]
        body = (await request.body()).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        try:
            self.guard.check_post(request.headers, form)
        except Refusal as exc:
            return self.refused(str(exc), status=403)
        form.pop(CSRF_FIELD, None)
        try:
            done = await run_in_threadpool(actions.act, self.backend, verb, form)
        except actions.Refused as exc:
            return self.refused(str(exc))
        if done.back.startswith("/operations/"):
            return RedirectResponse(done.back, status_code=303)
        return self.render("done.html", done=done)


def build_app(backend: Backend, guard: Guard) -> Starlette:
    """The console as an ASGI application."""
    pages = Pages(backend, guard)
    routes = [
        Route("/", pages.jobs),
        Route("/jobs/{job}", pages.job),
        Route("/jobs/{job}/batches/{batch}", pages.batch),
        Route("/failures", pages.failures),
        Route("/operations", pages.operations),
        Route("/operations/{id}", pages.operation),
        Route("/confirm/{verb}", pages.confirm),
        Route("/act/{verb}", pages.act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_Shield, hosts=guard.hosts())
    return app
