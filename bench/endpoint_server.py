"""`python -m bench.endpoint_server HOST PORT`: the benchmarks' endpoint process.

moto's server app, as `moto_server` serves it, behind the demo's middleware that serves
DynamoDB requests one at a time (`remediator.stack.local`): moto's conditional writes are not
atomic under concurrent requests, and two replicas racing for one batch could both win a
claim that DynamoDB would give to one. Everything else (SQS long polls included) is served
concurrently, as before.
"""

from __future__ import annotations

import logging
import sys

from remediator.stack.local import LocalServer


def main(argv: list[str]) -> int:
    host, port = argv[0], int(argv[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    LocalServer(host, port).wait()  # until SIGTERM ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
