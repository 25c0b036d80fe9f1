"""The fake OTLP/HTTP collector: ``POST /v1/traces`` with a protobuf ExportTraceServiceRequest.

It decodes each request with ``opentelemetry-proto`` (installed by ``getpatter[tracing]``) and
keeps the spans as plain :class:`ReceivedSpan` records, so a test checks what really went over
the wire: names, parentage, times and attributes.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from getpatter._validation import require_int
from getpatter.errors import ConfigError
from getpatter.testing._loopback_http import LoopbackHTTPFake

__all__ = ["FakeOTLPCollector", "ReceivedSpan"]

_PATH = "/v1/traces"
_PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector decoded it (ids in hex, times in Unix nanoseconds)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    """The attributes of the resource that sent it (``service.name``...)."""
    scope: str = ""
    """The name of the instrumentation scope (the tracer) that made it."""


class FakeOTLPCollector(LoopbackHTTPFake):
    """A local OTLP/HTTP trace receiver; use as ``async with FakeOTLPCollector() as otlp:``.

    :attr:`endpoint` is its base URL (what ``OTEL_EXPORTER_OTLP_ENDPOINT`` holds). Requests
    must be ``POST /v1/traces`` with ``Content-Type: application/x-protobuf`` (``gzip`` or
    ``deflate`` bodies accepted); others get HTTP 400/415. :meth:`fail_next` answers the next
    requests with an error status. Decoded spans are in :attr:`spans`.
    """

    def __init__(self) -> None:
        self._faults: deque[int] = deque()
        self._arrived = asyncio.Event()
        self.spans: list[ReceivedSpan] = []
        """Every span received, in arrival order."""
        self.requests = 0
        """Export requests received (refused ones included)."""

    async def __aenter__(self) -> Self:
        try:
            import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "FakeOTLPCollector decodes with opentelemetry-proto: "
                "pip install 'getpatter[tracing]'"
            ) from exc
        return await super().__aenter__()

    def _app(self) -> Starlette:
        return Starlette(routes=[Route(_PATH, self._handle, methods=["POST"])])

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, known once the collector runs."""
        return self._origin("endpoint")

    def fail_next(self, status: int = 503, *, times: int = 1) -> None:
        """Answer the next ``times`` export requests with HTTP ``status``."""
        require_int("fail_next status", status, minimum=400, maximum=599)
        require_int("fail_next times", times, minimum=1)
        self._faults.extend([status] * times)

    async def wait_for(self, name: str) -> list[ReceivedSpan]:
        """Wait until a span named ``name`` arrived (bound it with ``asyncio.timeout``);
        return the spans received so far."""
        while not any(span.name == name for span in self.spans):
            self._arrived.clear()
            await self._arrived.wait()
        return list(self.spans)

    async def _handle(self, request: Request) -> Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        self.requests += 1
        if self._faults:
            return PlainTextResponse("injected failure", status_code=self._faults.popleft())
        if request.headers.get("content-type", "").split(";")[0].strip() != _PROTOBUF:
            return PlainTextResponse(f"Content-Type must be {_PROTOBUF}", status_code=415)
        body = await request.body()
        try:
            encoding = request.headers.get("content-encoding", "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            message = ExportTraceServiceRequest.FromString(body)
        except Exception as exc:  # not gzip/deflate, or not a protobuf request: refused
            return PlainTextResponse(f"undecodable body: {exc}", status_code=400)
        for resource_spans in message.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            scope=scope_spans.scope.name,
                        )
                    )
        self._arrived.set()
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=_PROTOBUF)


def _attributes(pairs: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` pairs as a dict of plain values."""
    values: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        if kind in ("string_value", "bool_value", "int_value", "double_value", "bytes_value"):
            values[pair.key] = getattr(pair.value, kind)
        elif kind == "array_value":
            values[pair.key] = [
                getattr(v, v.WhichOneof("value")) for v in pair.value.array_value.values
            ]
        else:
            values[pair.key] = None
    return values
