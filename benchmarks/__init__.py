"""Benchmarks of iop-cds: service vs JSON floor, fetch mode, throughput under gunicorn, start-up."""
