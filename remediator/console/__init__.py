"""`remediator console`: the jobs, a job's grid, a batch's story and the operator's verbs in
a browser on loopback, with the caller's own AWS credentials.

Built on `remediator.ops` (the functions the CLI calls), served by uvicorn from the
`console` extra; its templates, JavaScript and CSS ship in this package. Import
`remediator.console.server` only where the extra is installed.
"""

from __future__ import annotations

__all__: list[str] = []
