"""The provider kit: what every speech, language and voice provider shares.

``errors`` maps a provider's HTTP and WebSocket failures to :class:`~getpatter.errors.PatterError`
the same way for every provider (401/403 → authentication, 429 → rate limit, 5xx and network
failures → connection errors, other refusals → provider errors), without ever showing a key;
``transport`` names the exceptions of the HTTP libraries under the provider SDKs; ``urls``
resolves a provider's base URL and the WebSocket URLs derived from it.
"""
