# iop-cds: the CDS Hooks service under gunicorn. Build: docker build -t iop-cds .
# Run:   docker run -p 8080:8080 -e IOP_CDS_TRUSTED_ISSUERS_FILE=/app/examples/trusted-issuers.sandbox.json iop-cds
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IOP_CDS_BIND=0.0.0.0:8080 \
    IOP_CDS_FEEDBACK_DB=/data/feedback.sqlite3 \
    IOP_CDS_REPLAY_DB=/data/replay.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY mappings ./mappings
COPY cards ./cards
COPY examples ./examples
# Editable: mappings/ and cards/ stay beside the package, where the default settings look for them.
RUN pip install --editable . \
    && useradd --system --uid 10001 --home-dir /app iopcds \
    && mkdir -p /data && chown iopcds /data

USER iopcds
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
CMD ["iop-cds", "serve"]
