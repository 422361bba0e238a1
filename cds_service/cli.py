"""The ``iop-cds`` command: serve, demo, evaluate, audit, check-mappings."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cds_service.config import Settings, SettingsError


def _serve(args: argparse.Namespace) -> int:
    """Run the service under gunicorn (app preloaded: mappings compile once, before the workers fork)."""
    from gunicorn.app.base import BaseApplication

    # Workers share their metrics through one folder; it must be set before prometheus_client is imported.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="iop-cds-metrics-")
    from cds_service.hooks.app import create_app
    from cds_service.logs import gunicorn_logconfig

    settings = Settings.from_env()
    bind = args.bind or settings.bind
    workers = args.workers or settings.workers
    application = create_app(settings)
    if settings.auth and not settings.public_base_url:
        # Without it, aud would be checked against the Host header the client itself sends.
        raise SettingsError(
            "IOP_CDS_AUTH is on but IOP_CDS_PUBLIC_BASE_URL is not set: set it to the base URL EHRs call "
            "(e.g. https://cds.example.org), which every JWT's aud must name"
        )

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", bind)
            self.cfg.set("workers", workers)
            # Threads, so that one EHR whose FHIR server stalls ties up a thread for the budget, not a worker;
            # with deadlines on reading each request, so that slow clients cannot hold the threads either.
            self.cfg.set("worker_class", "cds_service.hooks.gunicorn_worker.DeadlineThreadWorker")
            self.cfg.set("threads", settings.threads)
            self.cfg.set("max_requests", settings.max_requests)
            self.cfg.set("max_requests_jitter", max(1, settings.max_requests // 10))
            self.cfg.set("preload_app", True)
            self.cfg.set("post_worker_init", _warm_up_worker)
            # gunicorn's own error and access logs as JSON lines on stderr, like the service's.
            self.cfg.set("logconfig_dict", gunicorn_logconfig(settings.log_level))
            self.cfg.set("timeout", args.timeout)
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn ≥25 otherwise opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl)
                # that lets a local process resize or stop the service, and that a second instance takes over.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return application

    Server().run()
    return 0


def _warm_up_worker(_worker: Any) -> None:
    """Import in the background what start-up leaves to the first call (the order model), so that neither the first
    ``/healthz`` nor, usually, the first order-sign call waits for it."""
    import threading

    from cds_service.record.orders import load_order_model

    threading.Thread(target=load_order_model, name="iop-cds-warm-up", daemon=True).start()


def _demo(args: argparse.Namespace) -> int:
    from cds_service.demo import run_demo

    return run_demo(sys.stdout)


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service.engine.mapping import MappingError
    from cds_service.hooks.protocol import ProtocolError
    from cds_service.offline import OfflineInputError, evaluate_offline, format_table, load_request

    try:
        body = load_request(Path(args.file), args.hook, args.policy, args.at)
        response = evaluate_offline(body, Settings.from_env(auth=False))
    except (OfflineInputError, ProtocolError) as exc:
        print(f"iop-cds evaluate: {exc}", file=sys.stderr)
        return 2
    except MappingError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump(response, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(response))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from cds_service.audit.cli import run_audit_command

    return run_audit_command(args)


def _check_mappings(args: argparse.Namespace) -> int:
    from cds_service.cards.templates import CardTemplateError, load_templates
    from cds_service.engine.mapping import MappingError, load_mappings

    settings = Settings.from_env()
    folder = args.dir or settings.mappings_dir
    try:
        mappings = load_mappings(folder)
        load_templates(settings.cards_dir, mappings)
    except (MappingError, CardTemplateError) as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    criteria = sum(1 for policy in mappings.policies.values() for _ in policy.criteria())
    print(
        f"{folder}: {len(mappings.policies)} policies ({', '.join(sorted(mappings.policies))}), {criteria} criteria, "
        f"{len(mappings.facts)} facts, {len(mappings.selections)} selections, {len(mappings.valuesets)} value sets: OK"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="iop-cds", description="CDS Hooks service for payer IOP requirements.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service under gunicorn (settings from IOP_CDS_* variables)")
    serve.add_argument("--bind", help="host:port (default IOP_CDS_BIND, 127.0.0.1:8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default IOP_CDS_WORKERS, 2)")
    serve.add_argument("--timeout", type=int, default=30, help="worker timeout in seconds (default 30)")
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="start the service locally and call both hooks for example patients")
    demo.set_defaults(run=_demo)

    evaluate = commands.add_parser("evaluate", help="evaluate a patient Bundle or a saved hook request offline")
    evaluate.add_argument("file", help="a FHIR Bundle of one patient's record, or a full CDS Hooks request")
    evaluate.add_argument(
        "--hook",
        choices=["order-sign", "encounter-discharge"],
        help="hook to simulate for a Bundle (default order-sign)",
    )
    evaluate.add_argument("--policy", action="append", help="policy key (repeatable; default: routed by Coverage)")
    evaluate.add_argument("--at", help="evaluation time, RFC 3339 (default: now)")
    evaluate.add_argument("--format", choices=["table", "json"], default="table")
    evaluate.set_defaults(run=_evaluate)

    audit = commands.add_parser(
        "audit", help="evaluate every IOP episode and order of a Bulk Data export (or Bundles folder) on Dask"
    )
    audit.add_argument("input", help="a Bulk Data export folder (NDJSON per type, .ndjson or .ndjson.gz) or Bundles")
    audit.add_argument("--out", required=True, help="folder for the Parquet results and report.html")
    audit.add_argument("--policy", action="append", help="policy key (repeatable; default: routed by Coverage)")
    audit.add_argument("--as-of", help="evaluation time of episodes still open, RFC 3339 (default: export time)")
    audit.add_argument("--period", help="START/END (dates or RFC 3339): discharges and orders inside it only")
    audit.add_argument(
        "--workers", type=int, default=2, help="local Dask worker processes (default 2; 1 runs in this process)"
    )
    audit.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    audit.set_defaults(run=_audit)

    check = commands.add_parser("check-mappings", help="validate a mappings folder; non-zero exit on any problem")
    check.add_argument("dir", nargs="?", help="mappings folder (default IOP_CDS_MAPPINGS_DIR)")
    check.set_defaults(run=_check_mappings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iop-cds`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as exc:
        print(f"iop-cds: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
