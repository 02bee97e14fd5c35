"""Bulk replays stored in the table and carried out by the service: `model` (pure: the
operation, its batch list, a step), `items` (their DynamoDB items), `runner` (a replica's
step of each operation, at every sweep)."""

from __future__ import annotations

__all__: list[str] = []
