"""``iop-cds audit``: options to a run, errors to exit 2, a summary on the console."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from cds_service.config import Settings
from cds_service.engine.mapping import load_mappings
from cds_service.engine.timecalc import parse_instant


class AuditUsageError(ValueError):
    """An option the audit cannot use (bad time, period or policy key)."""


def _instant(text: str, option: str, *, end: bool = False) -> datetime:
    """An RFC 3339 date-time, or a date (its start, or its end for the end of a period)."""
    if "T" in text:
        parsed = parse_instant(text)
        if parsed is None:
            raise AuditUsageError(f"{option}: {text!r} is not an RFC 3339 date-time (e.g. 2025-06-30T23:59:59Z)")
        return parsed
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise AuditUsageError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or an RFC 3339 date-time") from None
    moment = datetime.combine(day, time.min) + (timedelta(days=1, microseconds=-1) if end else timedelta())
    return parse_instant(moment.isoformat()) or moment


def parse_period(text: str | None) -> tuple[datetime | None, datetime | None]:
    """``START/END`` (either side may be empty); an END date includes that whole day."""
    if not text:
        return None, None
    if "/" not in text:
        raise AuditUsageError(f"--period: {text!r} is not START/END (e.g. 2025-01-01/2025-06-30)")
    start_text, end_text = text.split("/", 1)
    start = _instant(start_text, "--period") if start_text else None
    end = _instant(end_text, "--period", end=True) if end_text else None
    if start and end and end < start:
        raise AuditUsageError(f"--period: the end {end_text} is before the start {start_text}")
    return start, end


def run_audit_command(args: argparse.Namespace) -> int:
    """Run the audit for the parsed command line; 2 on unusable input, output or options."""
    from cds_service.audit.job import AuditOutputError, run_audit
    from cds_service.audit.source import AuditInputError

    settings = Settings.from_env(auth=False)
    try:
        period = parse_period(args.period)
        as_of = _instant(args.as_of, "--as-of") if args.as_of else None
        if args.workers < 1:
            raise AuditUsageError("--workers must be at least 1")
        policies = tuple(dict.fromkeys(args.policy or ()))
        known = set(load_mappings(settings.mappings_dir).policies) if policies else set()
        unknown = [p for p in policies if p not in known]
        if unknown:
            raise AuditUsageError(f"--policy: unknown policy {unknown[0]!r} (one of {', '.join(sorted(known))})")
        summary = run_audit(
            Path(args.input),
            Path(args.out),
            settings=settings,
            policies=policies,
            as_of=as_of,
            period=period,
            workers=args.workers,
            scheduler=args.scheduler,
            # One worker gains nothing from a process of its own; it runs in this one and starts in a second.
            processes=args.workers > 1,
            progress=sys.stdout,
        )
    except (AuditUsageError, AuditInputError, AuditOutputError) as exc:
        print(f"iop-cds audit: {exc}", file=sys.stderr)
        return 2
    rate = summary.input_patients / summary.seconds if summary.seconds else 0.0
    print(
        f"{summary.input_patients} patients read, {summary.episodes} episodes and {summary.orders} orders evaluated "
        f"({summary.criteria_rows} criterion rows) in {summary.seconds:.1f} s ({rate:.1f} patients/s) on "
        f"{summary.workers} worker(s); {len(summary.problems)} pieces of bad input set aside"
    )
    print(f"results: {Path(args.out) / 'criteria'} (Parquet, by policy), report: {Path(args.out) / 'report.html'}")
    return 0
