# iop-cds: the CDS Hooks service under gunicorn. Build: docker build -t iop-cds .
# Run:   docker run -p 8080:8080 -e IOP_CDS_TRUSTED_ISSUERS_FILE=/app/examples/trusted-issuers.sandbox.json iop-cds
# A site's own mappings: -v /site/mappings:/app/mappings:ro (or point IOP_CDS_MAPPINGS_DIR elsewhere).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IOP_CDS_BIND=0.0.0.0:8080 \
    IOP_CDS_MAPPINGS_DIR=/app/mappings \
    IOP_CDS_CARDS_DIR=/app/cards \
    IOP_CDS_FEEDBACK_DB=/data/feedback.sqlite3 \
    IOP_CDS_REPLAY_DB=/data/replay.sqlite3

# The package goes into site-packages; the build tree is thrown away so nothing shadows it.
COPY pyproject.toml README.md /tmp/iop-cds/
COPY cds_service /tmp/iop-cds/cds_service
RUN pip install /tmp/iop-cds \
    && rm -rf /tmp/iop-cds \
    && useradd --system --uid 10001 --create-home --home-dir /home/iopcds iopcds \
    && mkdir -p /data && chown iopcds /data

# Data, not code: mappings and card templates (IOP_CDS_MAPPINGS_DIR / IOP_CDS_CARDS_DIR), example settings files.
WORKDIR /app
COPY mappings ./mappings
COPY cards ./cards
COPY examples ./examples

USER iopcds
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["iop-cds", "serve"]
