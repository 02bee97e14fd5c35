"""The Slack incoming-webhook message of an alert: fallback `text` plus Block Kit. Pure.

Slack limits: header text 150 characters, section text 3000, each field 2000, ten fields.
mrkdwn needs &, < and > escaped, or a value could render as a link or a mention.
"""

from __future__ import annotations

from typing import Any

from observability.models.signals import CIRCUIT_OPEN, EXHAUSTED, RECOVERED, Signal
from remediator.alerts.formats.summary import (
    RESOLVED_BY_HAND,
    clip,
    commands,
    facts,
    headline,
    resolution,
    title,
)

__all__ = ["escape", "escape_clip", "slack_message"]

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ICONS = {
    EXHAUSTED: ":rotating_light:",
    CIRCUIT_OPEN: ":no_entry:",
    RECOVERED: ":white_check_mark:",
}
_HEADER_LIMIT = 150
_SECTION_LIMIT = 3000
_FIELD_LIMIT = 2000
_ERROR_LIMIT = 1500


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def escape_clip(text: str, limit: int) -> str:
    """Escaped text of at most `limit` characters, never cutting an escape in half."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in text:
        piece = _ESCAPES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def _code(text: str, limit: int) -> str:
    # A triple backtick inside would end the code block early.
    return "```" + escape_clip(text.replace("```", "'''"), limit - 6) + "```"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, _SECTION_LIMIT)}}


def _recovered(signal: Signal) -> dict[str, Any]:
    icon = _ICONS[RECOVERED]
    where = f"`{escape(signal.job_id)}`"
    if signal.batch_id:
        where += f" batch `{escape(signal.batch_id)}`"
    if signal.reason == RESOLVED_BY_HAND:
        line = f"{icon} *Resolved*: {where} {escape(resolution(signal))}"
    else:
        line = f"{icon} *Recovered*: {where} succeeded at attempt {signal.attempt}"
    return {
        "text": escape_clip(f"{icon} {headline(signal)}", _SECTION_LIMIT),
        "blocks": [_section(line)],
    }


def slack_message(signal: Signal) -> dict[str, Any]:
    """The webhook body: `text` for notifications and `blocks` for the channel."""
    if signal.event == RECOVERED:
        return _recovered(signal)
    icon = _ICONS.get(signal.event, ":warning:")
    target = f"{signal.job_id} / {signal.batch_id}" if signal.batch_id else signal.job_id
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clip(f"{title(signal)}: {target}", _HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{escape_clip(value, _FIELD_LIMIT - 40)}"}
                for label, value in facts(signal).items()
            ],
        },
    ]
    if signal.error_message:
        blocks.append(_section("*Error*\n" + _code(signal.error_message, _ERROR_LIMIT)))
    blocks.append(_section("*Next steps*\n" + _code("\n".join(commands(signal)), 2000)))
    context = [f"{signal.event} at {signal.at or 'unknown time'}"]
    if signal.actor:
        context.append(f"by {signal.actor}")
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": escape_clip(" · ".join(context), 2000)}],
        }
    )
    return {"text": escape_clip(f"{icon} {headline(signal)}", _SECTION_LIMIT), "blocks": blocks}
