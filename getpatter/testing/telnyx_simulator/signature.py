"""The Ed25519 signature Telnyx puts on every webhook (``telnyx-signature-ed25519``).

Telnyx signs the UTF-8 bytes of ``f"{timestamp}|{raw_body}"`` with its private key and sends the
base64 signature with the Unix ``timestamp``; apps verify with Telnyx's public key (base64 of
its 32 raw bytes, the ``TELNYX_PUBLIC_KEY`` of the portal). Written from that published scheme,
independently of the ``telnyx`` SDK, so a server verifying with the SDK is cross-checked.
"""

from __future__ import annotations

import base64
import time

from nacl.signing import SigningKey

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookSigner"]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"


class WebhookSigner:
    """A fresh Ed25519 key pair that signs webhook bodies the way Telnyx does."""

    def __init__(self) -> None:
        self._key = SigningKey.generate()

    @property
    def public_key(self) -> str:
        """Base64 of the 32 raw bytes of the public key, as the Telnyx portal shows it."""
        return base64.b64encode(bytes(self._key.verify_key)).decode("ascii")

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The signature and timestamp headers for ``body`` (now, unless ``timestamp`` given)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = self._key.sign(stamp.encode("ascii") + b"|" + body).signature
        return {
            SIGNATURE_HEADER: base64.b64encode(signed).decode("ascii"),
            TIMESTAMP_HEADER: stamp,
        }
