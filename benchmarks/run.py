"""Run every benchmark, print a table and write benchmarks/results.json: ``python -m benchmarks.run [--smoke]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import engine, latency, serving
from benchmarks.latency import requests_for

RESULTS = Path(__file__).resolve().parent / "results.json"
FULL = {"sizes": [100, 1000, 10000], "runs": {100: 200, 1000: 60, 10000: 15}, "load_seconds": 30.0}
SMOKE = {"sizes": [100], "runs": {100: 5}, "load_seconds": 2.0}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def throughput(scratch: str, size: int, seconds: float) -> dict[str, Any]:
    """Start-up of ``iop-cds serve`` and requests/s for order-sign on a record of ``size`` resources."""
    workers = os.cpu_count() or 1
    with serving.served(workers, scratch) as (base, startup_seconds):
        from cds_service.config import POLICY_KEYS

        policies = [p for p in POLICY_KEYS if p in serving_policies(base)]
        body = json.dumps(requests_for(size, policies)["order-sign"]).encode()
        result = serving.load(f"{base}/cds-services/iop-order-sign", body, seconds, concurrency=2 * workers)
    return {"startup_seconds": round(startup_seconds, 3), "workers": workers, "size": size, **result}


def serving_policies(base: str) -> list[str]:
    """The policies a running service loaded."""
    import requests

    return list(requests.get(f"{base}/healthz", timeout=5).json()["policies"])


def print_table(results: dict[str, Any]) -> None:
    """The figures as a plain-text table."""
    print(
        f"machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}"
    )
    print("\nlatency (in-process, full prefetch)   median ms (p99)          service / floor")
    print(f"{'resources':>9} {'floor':>16} {'order-sign':>18} {'discharge':>18} {'order':>7} {'disch':>7}")
    for row in results["latency"]:
        os_, ed, fl = row["order-sign"], row["encounter-discharge"], row["floor"]
        print(
            f"{row['resources']:>9} {fl['median_ms']:>8.2f} ({fl['p99_ms']:>6.1f}) {os_['median_ms']:>9.2f} "
            f"({os_['p99_ms']:>6.1f}) {ed['median_ms']:>9.2f} ({ed['p99_ms']:>6.1f}) "
            f"{os_['ratio_to_floor']:>7.2f} {ed['ratio_to_floor']:>7.2f}"
        )
    print("\nengine only (encounter-discharge, one policy at a time), median ms")
    keys = [k for k in results["engine"][0] if k != "size"]
    print(f"{'resources':>9} " + " ".join(f"{k:>11}" for k in keys))
    for row in results["engine"]:
        print(f"{row['size']:>9} " + " ".join(f"{row[k]:>11.2f}" for k in keys))
    if len(results["latency"]) > 1:
        growth = results["growth"]
        print(f"growth 10x resources: order-sign x{growth['order-sign']}, discharge x{growth['encounter-discharge']}")
    t = results.get("throughput")
    if t:
        print(f"\nstart-up to first /healthz 200: {t['startup_seconds']:.2f} s")
        print(
            f"throughput, order-sign {t['size']} resources, {t['workers']} workers, {t['concurrency']} connections, "
            f"{t['seconds']} s: {t['requests_per_second']} req/s, median {t['median_ms']} ms, p99 {t['p99_ms']} ms, "
            f"errors {t['errors']}"
        )
    f = results.get("fetch")
    if f:
        print("\nfetch mode (no prefetch, real FHIR server)")
        for row in f:
            print(
                f"  {row['hook']:<20} {row['resources']:>6} resources: wall {row['wall_ms']:.1f} ms, "
                f"{row['fhir_requests']} FHIR requests, slowest query {row['slowest_query_ms']:.1f} ms, "
                f"evaluation {row['evaluation_ms']:.1f} ms, wall / (slowest query + evaluation) = "
                f"{row['ratio_to_slowest_plus_evaluation']:.2f}"
            )


def growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Latency at the largest size over the one ten times smaller."""
    by_size = {row["size"]: row for row in rows}
    out = {}
    for hook in ("order-sign", "encounter-discharge"):
        if 1000 in by_size and 10000 in by_size:
            out[hook] = round(by_size[10000][hook]["median_ms"] / by_size[1000][hook]["median_ms"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the suite; ``--smoke`` runs the smallest size briefly (CI checks it runs, not its timings)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--smoke", action="store_true", help="smallest size, few runs (CI)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--skip-fetch", action="store_true", help="skip fetch mode (needs the sekmet-fhir server)")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    with tempfile.TemporaryDirectory() as scratch:
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "smoke": args.smoke,
        }
        results["engine"] = engine.run(plan["sizes"], 3 if args.smoke else 9)
        results["latency"] = latency.run(plan["sizes"], plan["runs"], scratch)
        results["growth"] = growth(results["latency"])
        results["throughput"] = throughput(scratch, 1000 if not args.smoke else 100, plan["load_seconds"])
        if not args.skip_fetch:
            from benchmarks import fetch

            results["fetch"] = fetch.run(plan["sizes"], scratch)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
