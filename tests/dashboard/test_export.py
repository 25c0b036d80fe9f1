"""Exports: CSV (one row per call) and JSON (nested, with transcripts and turns)."""

from __future__ import annotations

import csv
import io

import httpx
from conftest import call_events

from getpatter.calls.memory_store import InMemoryCallStore
from getpatter.calls.store import StoredCall
from getpatter.dashboard import Dashboard
from getpatter.dashboard.export import CSV_COLUMNS, csv_text


async def _client() -> httpx.AsyncClient:
    store = InMemoryCallStore()
    for index, direction in enumerate(("inbound", "outbound")):
        for event in call_events(f"CA{index}", at=1_796_000_000.0 + index, direction=direction):
            await store.record(event)
    app = Dashboard(store).app()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard")


async def test_csv_has_one_row_per_call_with_the_documented_columns() -> None:
    async with await _client() as client:
        response = await client.get("/api/v1/export/csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="patter-calls-')
    assert response.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row["call_id"] for row in rows] == ["CA1", "CA0"]
    row = rows[1]
    assert row["direction"] == "inbound" and row["caller"] == "+15550100001"
    assert (row["status"], row["outcome"], row["ended_by"]) == ("ended", "completed", "caller")
    assert row["started_at"] == "2026-11-30T00:53:20.000Z"
    assert row["ended_at"] == "2026-11-30T00:53:50.000Z"
    assert (row["duration_seconds"], row["turns"]) == ("30.0", "1")
    assert (row["latency_p50_ms"], row["latency_p95_ms"]) == ("400.0", "400.0")
    assert [row[f"cost_{k}"] for k in ("stt", "tts", "llm", "telephony")] == [
        "0.01",
        "0.02",
        "0.03",
        "0.04",
    ]
    assert float(row["cost_total"]) == 0.1
    assert (row["error_count"], row["error"]) == ("0", "")


async def test_exports_take_the_list_filters() -> None:
    async with await _client() as client:
        response = await client.get("/api/v1/export/csv?direction=outbound")
        assert [r["call_id"] for r in csv.DictReader(io.StringIO(response.text))] == ["CA1"]
        response = await client.get("/api/v1/export/json?search=CA0")
        assert [c["call"]["call_id"] for c in response.json()["calls"]] == ["CA0"]


async def test_json_nests_each_call_with_its_transcript_turns_and_report() -> None:
    async with await _client() as client:
        response = await client.get("/api/v1/export/json")
        detail = (await client.get("/api/v1/calls/CA0")).json()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].endswith('.json"')
    exported = response.json()
    assert isinstance(exported["exported_at"], float)
    assert [c["call"]["call_id"] for c in exported["calls"]] == ["CA1", "CA0"]
    assert exported["calls"][1] == detail
    (turn,) = detail["turns"]
    assert turn["latency"]["stt_ms"] == 100.0 and turn["cost_so_far"]["total"] == 0.1
    assert [line["role"] for line in detail["transcript"]] == ["user", "assistant"]


def test_cells_a_spreadsheet_would_run_are_neutralised_but_numbers_stay() -> None:
    call = StoredCall(
        call_id="=HYPERLINK(1)",
        caller="+15550100001",
        callee="-12",
        agent="@SUM(A1)",
        error="+cmd|' /C calc'!A0",
    )
    (row,) = list(csv.DictReader(io.StringIO(csv_text([call]))))
    assert row["call_id"] == "'=HYPERLINK(1)"
    assert (row["caller"], row["callee"]) == ("+15550100001", "-12")
    assert row["agent"] == "'@SUM(A1)"
    assert row["error"] == "'+cmd|' /C calc'!A0"
