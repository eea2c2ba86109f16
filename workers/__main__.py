"""`python -m workers --threads T --queues usage,refunds --prefer 0,2`: one worker process (the
supervisor of `billing worker --processes N` starts its children this way)."""

from __future__ import annotations

import argparse
import sys

from billing_core.settings import load_settings
from workers.broker import KINDS
from workers.process import WorkerPlan, configure_logging, run_worker


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--queues", default=",".join(KINDS))
    parser.add_argument("--prefer", default="", help="usage partitions to consume at once (or none)")
    args = parser.parse_args()
    configure_logging()
    preferred = () if args.prefer in ("", "none") else tuple(int(p) for p in args.prefer.split(","))
    kinds = tuple(k for k in args.queues.split(",") if k)
    return run_worker(load_settings(), WorkerPlan(kinds, args.threads, preferred))


if __name__ == "__main__":
    sys.exit(main())
