"""Profile one hook call in-process with pyinstrument: ``python -m benchmarks.profile [--shape S] [--size N]``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from benchmarks.latency import requests_for
from cds_service.config import POLICY_KEYS, Settings
from cds_service.hooks.app import create_app


def main(argv: list[str] | None = None) -> int:
    """Warm up, then profile ``--calls`` calls of one hook; print pyinstrument's text report."""
    from pyinstrument import Profiler

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--shape", default="dense-bh")
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--hook", default="encounter-discharge", choices=["order-sign", "encounter-discharge"])
    parser.add_argument("--policies", nargs="+", default=list(POLICY_KEYS))
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--html", help="also write an HTML report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            auth=False, log_level="ERROR", feedback_db=f"{scratch}/f.sqlite3", replay_db=f"{scratch}/r.sqlite3"
        )
        client = create_app(settings).test_client()
        path = "/cds-services/iop-order-sign" if args.hook == "order-sign" else "/cds-services/iop-encounter-discharge"
        raw = json.dumps(requests_for(args.size, args.policies, args.shape)[args.hook]).encode()
        assert client.post(path, data=raw, content_type="application/json").status_code == 200
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(args.calls):
            client.post(path, data=raw, content_type="application/json")
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
