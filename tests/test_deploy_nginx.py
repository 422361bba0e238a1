"""deploy/nginx.conf is a configuration nginx accepts (checked with ``nginx -t`` when nginx is installed)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for cds.example.org, so that ``nginx -t`` can load the TLS lines."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cds.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crt, pem = folder / "cds.crt", folder / "cds.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")
def test_example_proxy_config_passes_nginx_syntax_check(tmp_path: Path) -> None:
    crt, pem = _self_signed(tmp_path)
    site = CONF.read_text()
    site = site.replace("/etc/nginx/tls/cds.example.org.crt", str(crt)).replace(
        "/etc/nginx/tls/cds.example.org.key", str(pem)
    )
    (tmp_path / "iop-cds.conf").write_text(site)
    (tmp_path / "logs").mkdir()
    # The file is meant for the http block of nginx.conf, as its header says.
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/iop-cds.conf;\n}}\n"
    )
    done = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
