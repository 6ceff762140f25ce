"""The verifying TLS context loads its trust store on the first handshake, and verifies from the start."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from comfy_reality.runtime.tls import DeferredTrustContext, verifying_context


def test_it_verifies_from_the_start_and_loads_nothing_until_a_handshake() -> None:
    context = verifying_context()
    assert isinstance(context, DeferredTrustContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.invalid")
    assert context.cert_store_stats()["x509_ca"] > 0


def test_it_trusts_ssl_cert_file_like_httpx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "one.pem"
    pem = Path(certifi.where()).read_text(encoding="ascii")
    bundle.write_text(pem[: pem.index("-----END CERTIFICATE-----") + 26], encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    context = verifying_context()
    assert isinstance(context, DeferredTrustContext)
    context.load_trust()
    assert context.cert_store_stats()["x509_ca"] == 1
