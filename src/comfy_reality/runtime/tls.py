"""A verifying TLS context that loads its trust store on the first TLS connection, not at start-up.

Loading the CA bundle costs about 50 ms of CPU, a fifth of a whole ``comfy-reality run``; most
servers are plain ``http://127.0.0.1:8188`` and never need it. Verification is unchanged: the
context requires a certificate and checks the host name from the start, and trusts what httpx
would trust (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi's bundle) once a handshake begins.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any


class DeferredTrustContext(ssl.SSLContext):
    """``PROTOCOL_TLS_CLIENT`` (certificate required, host name checked) with trust loaded on first use."""

    _trust_loaded: bool
    _trust_lock: threading.Lock

    def __new__(cls) -> DeferredTrustContext:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        context._trust_loaded = False
        context._trust_lock = threading.Lock()
        return context

    def __init__(self) -> None:
        # ssl.SSLContext takes the protocol in __new__; its __init__ takes nothing more.
        super().__init__()

    def load_trust(self) -> None:
        """Load the CA certificates httpx would use (idempotent, thread-safe)."""
        if self._trust_loaded:
            return
        with self._trust_lock:
            if self._trust_loaded:
                return
            if cafile := os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=cafile)
            elif capath := os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=capath)
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._trust_loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_trust()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(*args, **kwargs)


def verifying_context() -> ssl.SSLContext:
    """The context for ``verify=`` of an httpx client that verifies certificates."""
    return DeferredTrustContext()
