"""`python -m workers --threads T --queues usage,refunds --prefer 0,2`: one worker process (the
supervisor of `billing worker --processes N` starts its children this way)."""

from __future__ import annotations

import argparse
import sys

from billing_core.settings import load_settings
from telemetry.logs import configure_logging
from workers.broker import KINDS
from workers.process import WorkerPlan, run_worker


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--queues", default=",".join(KINDS))
    parser.add_argument("--prefer", default="", help="usage partitions to consume at once (or none)")
    args = parser.parse_args()
    settings = load_settings()
    configure_logging("worker", settings.log_format)
    preferred = () if args.prefer in ("", "none") else tuple(int(p) for p in args.prefer.split(","))
    kinds = tuple(k for k in args.queues.split(",") if k)
    # A supervised child: its metrics go to the supervisor's directory, which serves them.
    return run_worker(settings, WorkerPlan(kinds, args.threads, preferred), serve=False)


if __name__ == "__main__":
    sys.exit(main())
