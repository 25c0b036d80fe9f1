"""A local OTLP/HTTP trace collector that decodes what an exporter sent (tracing tests)."""

from getpatter.testing.fake_otlp.collector import FakeOTLPCollector, ReceivedSpan

__all__ = ["FakeOTLPCollector", "ReceivedSpan"]
