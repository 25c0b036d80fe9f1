"""The ``X-Twilio-Signature`` Twilio puts on every webhook it sends.

Written from Twilio's published algorithm, independently of the ``twilio`` SDK, so that a
server validating with the SDK is cross-checked by a second implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

__all__ = ["twilio_signature"]


def twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str | Sequence[str]] | None = None
) -> str:
    """Return the base64 HMAC-SHA1 Twilio sends in ``X-Twilio-Signature``.

    The signed string is ``url`` exactly as requested (scheme, host, port, path and query),
    followed by every form parameter as ``name + value`` with the names sorted; a repeated
    name contributes each of its distinct values, sorted (as the ``twilio`` SDK validates). Pass no ``params`` for GET requests, whose
    parameters are already in the URL's query string.
    """
    payload = url
    for name in sorted(params or {}):
        values = params[name] if params is not None else ()
        for value in sorted({values} if isinstance(values, str) else set(values)):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
