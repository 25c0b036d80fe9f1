"use strict";
// Placeholder until the dashboard UI lands: lists the calls the server holds, live.
const token = new URLSearchParams(location.search).get("token") || "";
const auth = token ? "?token=" + encodeURIComponent(token) : "";
const list = document.getElementById("calls");
const status = document.getElementById("status");

function show(calls) {
  list.replaceChildren(...calls.map((call) => {
    const item = document.createElement("li");
    item.textContent = `${call.call_id} ${call.direction} ${call.caller} -> ${call.callee} (${call.status})`;
    return item;
  }));
  status.textContent = `${calls.length} calls`;
}

async function refresh() {
  const response = await fetch("/api/v1/calls" + auth);
  if (!response.ok) { status.textContent = "This dashboard needs its token."; return; }
  show((await response.json()).calls);
}

refresh();
new EventSource("/api/v1/events" + auth).addEventListener("call", refresh);
