"""The receiving end of a re-trigger: the request read back from each delivery, and what runs it.

`request` (re-exported below) is what `observability.rerun` was; `runner` runs a request
under `batch()`, once per attempt, for `sqs_worker` (`SqsWorker`), `lambda_handler`
(`batch_handler`) and `task` (`run_task`).
"""

from observability.rerun.request import ENV_PREFIX, FirstRun, MalformedRerun, RerunRequest

__all__ = ["ENV_PREFIX", "FirstRun", "MalformedRerun", "RerunRequest"]
