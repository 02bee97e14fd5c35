"""The task sizes Fargate runs: each cpu value and the memory sizes (MiB) it takes. Pure.

https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
(Terraform checks the remediator's own task against the same table: settings.tf.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["FARGATE_SIZES", "fargate_size_problem", "sized_overrides"]

FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4096 + 1, 1024)),
    1024: frozenset(range(2048, 8192 + 1, 1024)),
    2048: frozenset(range(4096, 16384 + 1, 1024)),
    4096: frozenset(range(8192, 30720 + 1, 1024)),
    8192: frozenset(range(16384, 61440 + 1, 4096)),
    16384: frozenset(range(32768, 122880 + 1, 8192)),
}


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """None when Fargate runs a task of `cpu` units and `memory` MiB, else why not."""
    sizes = FARGATE_SIZES.get(cpu)
    if sizes is None:
        return f"cpu {cpu} is not a Fargate size (one of {', '.join(map(str, FARGATE_SIZES))})"
    if memory not in sizes:
        return (
            f"cpu {cpu} with memory {memory} MiB is not a Fargate size "
            f"(cpu {cpu} takes {min(sizes)} to {max(sizes)} MiB in steps of "
            f"{sorted(sizes)[1] - min(sizes)})"
        )
    return None


def sized_overrides(overrides: dict[str, Any], cpu: int, memory: int) -> dict[str, Any]:
    """RunTask `overrides` that run the task at `cpu` units and `memory` MiB: the task's
    size, and the same for its (one) overridden container, whose own limits would otherwise
    keep it at the task definition's."""
    containers = [
        {**c, "cpu": cpu, "memory": memory} for c in overrides.get("containerOverrides", [])
    ]
    return {**overrides, "containerOverrides": containers, "cpu": str(cpu), "memory": str(memory)}
