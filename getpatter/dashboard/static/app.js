"use strict";
// Patter's dashboard: plain JavaScript over the JSON API (/api/v1/...) and its event stream.
// Every piece of call data reaches the page through textContent or SVG attributes, never HTML;
// the page runs under a strict CSP, so there are no inline handlers or style attributes either.
(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COST_STAGES = [
    ["stt", "STT"],
    ["llm", "LLM"],
    ["tts", "TTS"],
    ["telephony", "Telephony"],
  ];
  const LATENCY_STAGES = [
    ["stt", "STT", "stt_ms"],
    ["llm", "LLM (first token)", "llm_ttft_ms"],
    ["tts", "TTS (first audio)", "tts_ms"],
  ];
  const PAGE_SIZE = 50;
  const MIN_BUCKETS = { hour: 24, day: 7 };

  const $ = (id) => document.getElementById(id);

  const state = {
    token: "",
    base: "",
    locked: false,
    shown: false,
    events: null,
    reconnectTimer: 0,
    calls: [],
    nextBefore: null,
    historyGeneration: 0,
    active: new Map(),
    bucket: "hour",
    bucketChosen: false,
    costPoints: [],
    overview: null,
    detailId: null,
    detail: null,
    detailMissing: false,
    detailPartials: {},
  };

  // ---- Formatting ---------------------------------------------------------------------------

  const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

  function fmtMs(v) {
    return isNumber(v) ? `${Math.round(v).toLocaleString("en-US")} ms` : "–";
  }

  function fmtCost(v) {
    if (!isNumber(v)) return "–";
    return `$${v.toLocaleString("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 })}`;
  }

  // A cost with unpriced providers is a lower bound: their share is unknown, not free.
  function fmtCallCost(cost) {
    const text = fmtCost(cost && cost.total);
    const unpriced = cost && Array.isArray(cost.unpriced) ? cost.unpriced : [];
    return unpriced.length ? `≥ ${text} (no price: ${unpriced.join(", ")})` : text;
  }

  function fmtDuration(seconds) {
    if (!isNumber(seconds)) return "–";
    const total = Math.max(0, Math.floor(seconds));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function fmtCount(v) {
    return isNumber(v) ? v.toLocaleString("en-US") : "–";
  }

  function fmtMinutes(v) {
    if (!isNumber(v)) return "–";
    return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US");
  }

  function fmtTime(unix) {
    if (!isNumber(unix)) return "–";
    const date = new Date(unix * 1000);
    const time = date.toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    if (date.toDateString() === new Date().toDateString()) return time;
    return `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
  }

  function fmtBucket(unix, bucket) {
    const date = new Date(unix * 1000);
    if (bucket === "day") return date.toLocaleDateString([], { month: "short", day: "numeric" });
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function fmtAxisCost(v) {
    if (v === 0) return "$0";
    return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(2)}`;
  }

  const parties = (call) => `${call.caller || "unknown"} → ${call.callee || "unknown"}`;
  const agentText = (agent) => (agent || "").replace(/ -> /g, " → ");
  const directionText = (d) => (d === "inbound" ? "↙ In" : d === "outbound" ? "↗ Out" : d || "–");
  const nowSeconds = () => Date.now() / 1000;

  function liveDuration(call) {
    if (!call.active) return call.duration_seconds;
    return isNumber(call.started_at) ? nowSeconds() - call.started_at : null;
  }

  // ---- DOM helpers --------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function withTitle(node, title) {
    node.appendChild(svg("title", {}, title));
    return node;
  }

  function legendItem(cls, label) {
    const item = el("span", "legend-item");
    item.append(el("span", `swatch s-${cls}`), document.createTextNode(label));
    return item;
  }

  function outcomeBadge(call) {
    if (call.active) return el("span", "badge live-badge", "live");
    const outcome = call.outcome || call.status || "ended";
    const tone =
      outcome === "error" || outcome === "failed"
        ? " bad"
        : outcome === "completed" || outcome === "transferred"
          ? " good"
          : "";
    return el("span", `badge${tone}`, outcome.replace(/_/g, " "));
  }

  function niceStep(max, ticks) {
    const raw = max / ticks;
    const power = 10 ** Math.floor(Math.log10(raw));
    const unit = raw / power;
    return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  }

  function widthOf(node, fallback) {
    return Math.max(240, Math.floor(node.clientWidth || fallback));
  }

  // ---- API ----------------------------------------------------------------------------------

  class Unauthorized extends Error {}

  function apiUrl(path, params) {
    const url = new URL(state.base + path, location.href);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "")
        url.searchParams.set(name, String(value));
    }
    return url;
  }

  function withToken(url) {
    if (state.token) url.searchParams.set("token", state.token);
    return url.toString();
  }

  async function api(path, params) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(apiUrl(path, params), { headers, cache: "no-store" });
    if (response.status === 401 || response.status === 403) throw new Unauthorized(path);
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function failed(error) {
    if (error instanceof Unauthorized) {
      lock();
    } else {
      console.error("dashboard:", error);
    }
  }

  // ---- Token and locked state ---------------------------------------------------------------

  function readToken() {
    const params = new URLSearchParams(location.search);
    state.token = params.get("token") || "";
    if (params.has("token")) {
      params.delete("token");
      const query = params.toString();
      history.replaceState(
        history.state,
        "",
        `${location.pathname}${query ? `?${query}` : ""}${location.hash}`,
      );
    }
    state.base = `${location.pathname.replace(/[^/]*$/, "").replace(/dashboard\/$/, "")}api/v1/`;
  }

  function lock() {
    state.locked = true;
    if (state.events) state.events.close();
    state.events = null;
    clearTimeout(state.reconnectTimer);
    state.calls = [];
    state.active.clear();
    state.detail = null;
    state.overview = null;
    state.costPoints = [];
    for (const id of [
      "history",
      "active-list",
      "detail-body",
      "cost-chart",
      "stage-chart",
      "cost-legend",
    ])
      $(id).replaceChildren();
    for (const node of document.querySelectorAll(".card-value, .card-note")) node.textContent = "";
    $("app").hidden = true;
    $("detail").hidden = true;
    $("scrim").hidden = true;
    document.querySelector(".topbar-actions").hidden = true;
    $("locked").hidden = false;
    $("locked-detail").textContent = state.token
      ? "The token in the link was not accepted (a restarted server makes a new one)."
      : "The link had no token.";
  }

  function reveal() {
    if (state.shown || state.locked) return;
    state.shown = true;
    $("app").hidden = false;
    for (const entry of state.active.values()) followTranscript(entry);
  }

  // ---- Live connection ----------------------------------------------------------------------

  function setLive(mode) {
    const labels = {
      connecting: "Connecting",
      live: "Live",
      reconnecting: "Reconnecting",
      offline: "Offline",
    };
    $("live").dataset.state = mode;
    $("live-text").textContent = labels[mode];
  }

  function connect() {
    if (state.locked) return;
    const events = new EventSource(withToken(apiUrl("events")));
    state.events = events;
    setLive("connecting");
    events.onopen = () => {
      setLive("live");
      scheduleLoad();
    };
    events.onerror = () => {
      if (state.locked || state.events !== events) return;
      if (events.readyState === EventSource.CLOSED) {
        setLive("offline");
        events.close();
        // The stream was refused (a token gone bad, a server restarted without it): the next
        // fetch tells which; then try again.
        scheduleLoad();
        state.reconnectTimer = setTimeout(connect, 5000);
      } else {
        setLive("reconnecting");
      }
    };
    const on = (name, handler) =>
      events.addEventListener(name, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        handler(data);
      });
    on("call", onCall);
    on("transcript", onTranscript);
    on("partial", onPartial);
    on("turn", onTurn);
  }

  // ---- Loading ------------------------------------------------------------------------------

  let loading = null;
  let loadAgain = false;

  function scheduleLoad() {
    if (loading) {
      loadAgain = true;
      return;
    }
    loading = loadAll().finally(() => {
      loading = null;
      if (loadAgain && !state.locked) {
        loadAgain = false;
        scheduleLoad();
      }
    });
  }

  async function loadAll() {
    try {
      await Promise.all([loadOverview(), loadCosts(), loadActive(), loadHistory(true)]);
      reveal();
      if (state.detailId) await loadDetail(state.detailId);
    } catch (error) {
      failed(error);
    }
  }

  let aggregatesTimer = 0;

  // Totals and cost charts follow the calls at most every 0.7 s, however busy the line.
  function scheduleAggregates() {
    if (aggregatesTimer) return;
    aggregatesTimer = setTimeout(() => {
      aggregatesTimer = 0;
      Promise.all([loadOverview(), loadCosts()]).catch(failed);
    }, 700);
  }

  async function loadOverview() {
    const overview = await api("analytics/overview");
    if (state.locked || !overview) return;
    state.overview = overview;
    renderOverview();
  }

  async function loadCosts() {
    // Until a bucket is picked, the server picks: hourly over the last two days, else daily.
    const data = await api("analytics/costs", state.bucketChosen ? { bucket: state.bucket } : {});
    if (state.locked || !data) return;
    if (data.bucket === "hour" || data.bucket === "day") {
      state.bucket = data.bucket;
      showBucket();
    }
    state.costPoints = Array.isArray(data.points) ? data.points : [];
    renderCostChart();
  }

  async function loadActive() {
    const data = await api("calls/active");
    if (state.locked || !data) return;
    const previous = state.active;
    state.active = new Map();
    for (const call of data.calls || []) {
      const { transcript, ...summary } = call;
      const entry = previous.get(call.call_id) || { partials: {}, node: null };
      entry.call = summary;
      entry.lines = Array.isArray(transcript) ? transcript : [];
      state.active.set(call.call_id, entry);
      if (entry.node) renderLiveTranscript(entry);
    }
    renderActive();
  }

  function filters() {
    return {
      search: $("search").value.trim(),
      status: $("filter-status").value,
      direction: $("filter-direction").value,
    };
  }

  async function loadHistory(reset) {
    const generation = reset ? ++state.historyGeneration : state.historyGeneration;
    const params = { limit: PAGE_SIZE, ...filters() };
    if (!reset) params.before = state.nextBefore;
    const data = await api("calls", params);
    if (state.locked || !data || generation !== state.historyGeneration) return;
    const calls = Array.isArray(data.calls) ? data.calls : [];
    state.calls = reset
      ? calls
      : state.calls.concat(calls.filter((c) => !state.calls.some((k) => k.call_id === c.call_id)));
    state.nextBefore = isNumber(data.next_before) ? data.next_before : null;
    renderHistory();
  }

  async function loadDetail(callId) {
    const data = await api(`calls/${encodeURIComponent(callId)}`);
    if (state.locked || state.detailId !== callId) return;
    state.detail = data;
    state.detailMissing = !data;
    renderDetail();
  }

  // ---- Live events --------------------------------------------------------------------------

  function onCall(data) {
    const call = data && data.call;
    if (!call || !call.call_id) return;
    const entry = state.active.get(call.call_id);
    if (call.active) {
      if (entry) entry.call = call;
      else state.active.set(call.call_id, { call, lines: [], partials: {}, node: null });
    } else if (entry) {
      state.active.delete(call.call_id);
    }
    renderActive();
    upsertHistory(call);
    if (state.detail && state.detailId === call.call_id) {
      const ended = state.detail.call.active && !call.active;
      state.detail.call = call;
      renderDetail();
      if (ended) loadDetail(call.call_id).catch(failed);
    }
    scheduleAggregates();
  }

  function onTranscript(data) {
    if (!data || !data.line) return;
    const entry = state.active.get(data.call_id);
    if (entry) {
      entry.lines.push(data.line);
      delete entry.partials[data.line.role];
      renderLiveTranscript(entry);
    }
    if (state.detail && state.detailId === data.call_id) {
      state.detail.transcript.push(data.line);
      delete state.detailPartials[data.line.role];
      renderDetail();
    }
  }

  function onPartial(data) {
    if (!data || !data.role) return;
    const entry = state.active.get(data.call_id);
    if (entry) {
      entry.partials[data.role] = data.text || "";
      renderLiveTranscript(entry);
    }
    if (state.detail && state.detailId === data.call_id) {
      state.detailPartials[data.role] = data.text || "";
      renderDetail();
    }
  }

  function onTurn(data) {
    if (!data || !data.turn) return;
    if (state.detail && state.detailId === data.call_id) {
      const detail = state.detail;
      detail.turns.push(data.turn);
      detail.call.turns = Math.max(detail.call.turns || 0, detail.turns.length);
      if (data.turn.cost_so_far) detail.call.cost = data.turn.cost_so_far;
      renderDetail();
    }
    scheduleAggregates();
  }

  function matchesFilters(call) {
    const f = filters();
    if (f.status === "active" && !call.active) return false;
    if (f.status === "ended" && call.active) return false;
    if (f.direction && call.direction !== f.direction) return false;
    return true;
  }

  function upsertHistory(call) {
    const index = state.calls.findIndex((c) => c.call_id === call.call_id);
    if (index >= 0) {
      if (matchesFilters(call)) state.calls[index] = call;
      else state.calls.splice(index, 1);
    } else if (matchesFilters(call) && !filters().search) {
      const last = state.calls[state.calls.length - 1];
      if (state.nextBefore !== null && last && call.started_at < last.started_at) return;
      const at = state.calls.findIndex((c) => c.started_at < call.started_at);
      state.calls.splice(at < 0 ? state.calls.length : at, 0, call);
    } else {
      return;
    }
    renderHistory();
  }

  // ---- Overview and charts ------------------------------------------------------------------

  function renderOverview() {
    const o = state.overview;
    $("stat-calls").textContent = fmtCount(o.calls);
    $("stat-calls-note").textContent = isNumber(o.average_duration_seconds)
      ? `avg ${fmtDuration(o.average_duration_seconds)} each`
      : "";
    $("stat-active").textContent = fmtCount(o.active);
    $("stat-minutes").textContent = fmtMinutes(o.minutes);
    $("stat-minutes-note").textContent = "of talk time";
    $("stat-latency").textContent = fmtMs(o.average_latency_ms);
    $("stat-p95").textContent = fmtMs(o.p95_latency_ms);
    $("stat-cost").textContent = fmtCost(o.cost && o.cost.total);
    renderStageChart(o.cost || {});
  }

  function showBucket() {
    for (const button of document.querySelectorAll("[data-bucket]")) {
      button.setAttribute("aria-pressed", String(button.dataset.bucket === state.bucket));
    }
  }

  function bucketSeconds() {
    return state.bucket === "day" ? 86400 : 3600;
  }

  function costSeries() {
    const step = bucketSeconds();
    const points = state.costPoints
      .filter((p) => isNumber(p.start))
      .sort((a, b) => a.start - b.start);
    const series = [];
    for (const point of points) {
      const previous = series[series.length - 1];
      if (previous) {
        for (
          let t = previous.start + step;
          t < point.start - step / 2 && series.length < 400;
          t += step
        ) {
          series.push({ start: t, calls: 0, cost: {} });
        }
      }
      series.push(point);
    }
    if (series.length) {
      while (series.length < MIN_BUCKETS[state.bucket])
        series.unshift({ start: series[0].start - step, calls: 0, cost: {} });
    }
    return series;
  }

  function renderCostChart() {
    const box = $("cost-chart");
    const width = widthOf(box, 700);
    const height = 190;
    const chart = svg("svg", {
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "Cost over time",
    });
    const series = costSeries();
    const legend = $("cost-legend");
    legend.replaceChildren(...COST_STAGES.map(([cls, label]) => legendItem(cls, label)));
    if (!series.length) {
      chart.appendChild(
        svg(
          "text",
          { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" },
          `No calls yet: cost shows up here by the ${state.bucket}`,
        ),
      );
      box.replaceChildren(chart);
      return;
    }
    const left = 56;
    const right = 8;
    const top = 10;
    const bottom = 24;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const totals = series.map((p) =>
      COST_STAGES.reduce((sum, [key]) => sum + (isNumber(p.cost[key]) ? p.cost[key] : 0), 0),
    );
    const peak = Math.max(...totals);
    const step = peak > 0 ? niceStep(peak, 3) : 1;
    const max = peak > 0 ? Math.ceil(peak / step) * step : 1;
    for (let v = 0; v <= max + step / 2; v += step) {
      const y = top + plotH - (v / max) * plotH;
      chart.appendChild(
        svg("line", {
          x1: left,
          x2: width - right,
          y1: y,
          y2: y,
          class: v === 0 ? "axis" : "grid",
        }),
      );
      chart.appendChild(
        svg("text", { x: left - 8, y: y + 4, "text-anchor": "end", class: "tick" }, fmtAxisCost(v)),
      );
      if (peak === 0) break;
    }
    const band = plotW / series.length;
    const barW = Math.max(2, Math.min(band * 0.68, 38));
    const labelEvery = Math.max(1, Math.ceil(series.length / Math.max(1, Math.floor(plotW / 64))));
    series.forEach((point, i) => {
      const x = left + i * band + (band - barW) / 2;
      let y = top + plotH;
      const group = svg("g", {});
      for (const [key, label] of COST_STAGES) {
        const value = isNumber(point.cost[key]) ? point.cost[key] : 0;
        if (value <= 0) continue;
        const h = (value / max) * plotH;
        y -= h;
        group.appendChild(
          withTitle(
            svg("rect", { x, y, width: barW, height: Math.max(h, 0.5), class: `s-${key}` }),
            `${label} ${fmtCost(value)}`,
          ),
        );
      }
      const calls = isNumber(point.calls)
        ? `${point.calls} call${point.calls === 1 ? "" : "s"}, `
        : "";
      withTitle(group, `${fmtBucket(point.start, state.bucket)}: ${calls}${fmtCost(totals[i])}`);
      chart.appendChild(group);
      if ((series.length - 1 - i) % labelEvery === 0) {
        chart.appendChild(
          svg(
            "text",
            {
              x: left + i * band + band / 2,
              y: height - 6,
              "text-anchor": "middle",
              class: "tick",
            },
            fmtBucket(point.start, state.bucket),
          ),
        );
      }
    });
    box.replaceChildren(chart);
  }

  function renderStageChart(cost) {
    const size = 150;
    const radius = 56;
    const stroke = 18;
    const circumference = 2 * Math.PI * radius;
    const ring = svg("svg", {
      width: size,
      height: size,
      viewBox: `0 0 ${size} ${size}`,
      role: "img",
      "aria-label": "Cost by stage",
    });
    const c = size / 2;
    ring.appendChild(
      svg("circle", { cx: c, cy: c, r: radius, "stroke-width": stroke, class: "ring-bg" }),
    );
    const values = COST_STAGES.map(([key]) => (isNumber(cost[key]) ? cost[key] : 0));
    const sum = values.reduce((a, b) => a + b, 0);
    let offset = 0;
    COST_STAGES.forEach(([key, label], i) => {
      if (sum <= 0 || values[i] <= 0) return;
      const length = (values[i] / sum) * circumference;
      ring.appendChild(
        withTitle(
          svg("circle", {
            cx: c,
            cy: c,
            r: radius,
            "stroke-width": stroke,
            class: `ring s-${key}`,
            "stroke-dasharray": `${length} ${circumference - length}`,
            "stroke-dashoffset": -offset,
            transform: `rotate(-90 ${c} ${c})`,
          }),
          `${label} ${fmtCost(values[i])}`,
        ),
      );
      offset += length;
    });
    const total = isNumber(cost.total) ? cost.total : sum;
    ring.appendChild(
      svg("text", { x: c, y: c + 2, "text-anchor": "middle", class: "ring-total" }, fmtCost(total)),
    );
    ring.appendChild(
      svg("text", { x: c, y: c + 19, "text-anchor": "middle", class: "ring-caption" }, "total"),
    );
    const list = el("ul", "stage-list");
    COST_STAGES.forEach(([key, label], i) => {
      const item = el("li");
      const value = el("span", "stage-value", fmtCost(values[i]));
      value.appendChild(
        el("span", "stage-share", sum > 0 ? `${Math.round((values[i] / sum) * 100)}%` : ""),
      );
      item.append(el("span", `swatch s-${key}`), el("span", "stage-name", label), value);
      list.appendChild(item);
    });
    $("stage-chart").replaceChildren(ring, list);
  }

  // ---- Active calls -------------------------------------------------------------------------

  function renderActive() {
    const list = $("active-list");
    const entries = [...state.active.values()].sort(
      (a, b) => b.call.started_at - a.call.started_at,
    );
    for (const entry of entries) {
      if (!entry.node) entry.node = buildActiveCard(entry);
      updateActiveCard(entry);
    }
    list.replaceChildren(...entries.map((e) => e.node));
    entries.forEach(followTranscript);
    $("active-count").textContent = String(entries.length);
    $("active-empty").hidden = entries.length > 0;
  }

  function buildActiveCard(entry) {
    const card = el("article", "active-call");
    card.tabIndex = 0;
    card.dataset.id = entry.call.call_id;
    const top = el("div", "active-top");
    entry.dirNode = el("span", "dir");
    entry.partiesNode = el("span", "active-parties");
    entry.timerNode = el("span", "active-timer");
    top.append(entry.dirNode, entry.partiesNode, entry.timerNode);
    entry.agentNode = el("div", "active-agent");
    entry.box = el("div", "live-transcript");
    entry.box.setAttribute("aria-live", "polite");
    entry.follow = true;
    entry.box.addEventListener("scroll", () => {
      const box = entry.box;
      entry.follow = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    });
    card.append(top, entry.agentNode, entry.box);
    renderLiveTranscript(entry);
    return card;
  }

  function updateActiveCard(entry) {
    const call = entry.call;
    entry.dirNode.textContent = directionText(call.direction);
    entry.partiesNode.textContent = parties(call);
    entry.partiesNode.title = parties(call);
    entry.timerNode.textContent = fmtDuration(liveDuration(call));
    const provider = [agentText(call.agent), call.telephony_provider].filter(Boolean).join(" · ");
    entry.agentNode.textContent = provider || call.provider_mode || "";
    entry.agentNode.title = entry.agentNode.textContent;
  }

  function transcriptLine(role, text, extra) {
    const line = el(
      "div",
      `line ${role === "assistant" ? "assistant" : "user"}${extra ? ` ${extra}` : ""}`,
    );
    line.append(
      el("span", "line-role", role === "assistant" ? "Agent" : "Caller"),
      el("span", "line-text", text),
    );
    return line;
  }

  // A live transcript follows the conversation unless its reader scrolled up.
  function followTranscript(entry) {
    if (entry.follow && entry.box.isConnected) entry.box.scrollTop = entry.box.scrollHeight;
  }

  function renderLiveTranscript(entry) {
    const box = entry.box;
    if (!box) return;
    const lines = entry.lines.map((line) => {
      const node = transcriptLine(line.role, line.text, line.heard === false ? "unheard" : "");
      if (line.heard === false) node.lastChild.appendChild(el("span", "line-flag", "not heard"));
      return node;
    });
    for (const [role, text] of Object.entries(entry.partials)) {
      if (text) lines.push(transcriptLine(role, `${text}…`, "partial"));
    }
    if (!lines.length) lines.push(el("div", "muted", "Waiting for the first words…"));
    box.replaceChildren(...lines);
    followTranscript(entry);
  }

  // ---- History ------------------------------------------------------------------------------

  function renderHistory() {
    const rows = state.calls.map((call) => {
      const row = el("tr");
      row.tabIndex = 0;
      row.dataset.id = call.call_id;
      const cells = [
        el("td", "", fmtTime(call.started_at)),
        el("td", "dir", directionText(call.direction)),
        el("td", "parties", parties(call)),
        el("td", "num duration", fmtDuration(liveDuration(call))),
        el("td"),
        el("td", "num", fmtCount(call.turns)),
        el("td", "num", fmtMs(call.latency_p95_ms)),
        el("td", "num", fmtCallCost(call.cost)),
        el("td", "err"),
      ];
      cells[4].appendChild(outcomeBadge(call));
      if (call.error || call.error_count > 0) {
        cells[8].textContent = "!";
        cells[8].title = call.error || `${call.error_count} error(s)`;
        cells[8].setAttribute("aria-label", "had errors");
      }
      row.append(...cells);
      return row;
    });
    $("history").replaceChildren(...rows);
    const f = filters();
    const empty = $("history-empty");
    empty.hidden = rows.length > 0;
    empty.textContent =
      f.search || f.status || f.direction
        ? "No calls match these filters."
        : "No calls yet. Calls appear here as soon as they start.";
    $("load-more").hidden = state.nextBefore === null;
    updateExportLinks();
  }

  function updateExportLinks() {
    const f = filters();
    $("export-csv").href = withToken(apiUrl("export/csv", f));
    $("export-json").href = withToken(apiUrl("export/json", f));
  }

  // ---- Call detail --------------------------------------------------------------------------

  function openDetail(callId) {
    location.hash = `call=${encodeURIComponent(callId)}`;
  }

  function closeDetail() {
    history.replaceState(history.state, "", `${location.pathname}${location.search}`);
    route();
  }

  function route() {
    const match = /^#call=(.+)$/.exec(location.hash);
    const callId = match ? decodeURIComponent(match[1]) : null;
    if (callId === state.detailId) return;
    state.detailId = callId;
    state.detail = null;
    state.detailMissing = false;
    state.detailPartials = {};
    const open = Boolean(callId) && !state.locked;
    $("detail").hidden = !open;
    $("scrim").hidden = !open;
    if (!open) return;
    $("detail-title").textContent = "Loading…";
    $("detail-sub").replaceChildren();
    $("detail-body").replaceChildren();
    $("detail-close").focus();
    loadDetail(callId).catch(failed);
  }

  function section(title, className) {
    const panel = el("section", `panel${className ? ` ${className}` : ""}`);
    if (title) panel.appendChild(el("h3", "", title));
    return panel;
  }

  function renderDetail() {
    const body = $("detail-body");
    if (state.detailMissing) {
      $("detail-title").textContent = "Call not found";
      $("detail-sub").replaceChildren(el("code", "", state.detailId));
      body.replaceChildren(
        el(
          "p",
          "empty",
          "No call with this id is kept here: it may have been forgotten, or the server restarted.",
        ),
      );
      return;
    }
    const detail = state.detail;
    if (!detail || !detail.call) return;
    const call = detail.call;
    detail.transcript = Array.isArray(detail.transcript) ? detail.transcript : [];
    detail.turns = Array.isArray(detail.turns) ? detail.turns : [];
    const report = detail.report && typeof detail.report === "object" ? detail.report : null;
    $("detail-title").textContent = parties(call);
    const sub = $("detail-sub");
    sub.replaceChildren(
      outcomeBadge(call),
      el("span", "", `${directionText(call.direction)} · ${fmtTime(call.started_at)}`),
      el("code", "", call.call_id),
    );
    const scroll = body.scrollTop;
    body.replaceChildren(
      renderFacts(call, report),
      ...renderErrors(call, report),
      renderCost(call, report),
      renderLatency(detail.turns),
      renderTranscript(call, detail.transcript),
    );
    body.scrollTop = scroll;
  }

  function renderFacts(call, report) {
    const panel = section("");
    const facts = el("dl", "facts");
    const add = (label, value, className) => {
      const item = el("div", className || "");
      const dd = el("dd");
      if (value instanceof Node) dd.appendChild(value);
      else
        dd.textContent =
          value === undefined || value === null || value === "" ? "–" : String(value);
      item.append(el("dt", "", label), dd);
      facts.appendChild(item);
      return dd;
    };
    add("Outcome", call.active ? "in progress" : call.outcome || (report && report.outcome) || "–");
    add(
      "Ended by",
      call.ended_by || (report && report.ended_by) || (call.active ? "–" : "unknown"),
    );
    const duration = add("Duration", fmtDuration(liveDuration(call)));
    if (call.active) duration.dataset.liveStart = String(call.started_at);
    add("Started", fmtTime(call.started_at));
    add("Status", call.status);
    add("Turns", fmtCount(call.turns));
    add("Latency p50", fmtMs(call.latency_p50_ms));
    add("Latency p95", fmtMs(call.latency_p95_ms));
    add("Carrier", call.telephony_provider);
    add("Agent", agentText(call.agent) || call.provider_mode, "wide");
    panel.appendChild(facts);
    return panel;
  }

  function errorText(value) {
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "string") return value;
    if (typeof value === "object") return value.message || value.error || JSON.stringify(value);
    return String(value);
  }

  function renderErrors(call, report) {
    const messages = [];
    const add = (value) => {
      const text = errorText(value);
      if (text && !messages.includes(text)) messages.push(text);
    };
    add(call.error);
    if (report) {
      add(report.error);
      if (Array.isArray(report.errors)) report.errors.forEach(add);
    }
    if (!messages.length && !(call.error_count > 0)) return [];
    const panel = section(`Errors (${Math.max(messages.length, call.error_count || 0)})`, "errors");
    const list = el("ul");
    for (const text of messages) list.appendChild(el("li", "", text));
    if (!messages.length) list.appendChild(el("li", "", "Errors were counted but not described."));
    panel.appendChild(list);
    return [panel];
  }

  function renderCost(call, report) {
    const panel = section("Cost");
    const metrics =
      report && report.metrics && typeof report.metrics === "object" ? report.metrics : null;
    const cost = (metrics && metrics.cost) || call.cost || {};
    const values = COST_STAGES.map(([key]) => (isNumber(cost[key]) ? cost[key] : 0));
    const peak = Math.max(...values, 0);
    const rows = el("div", "cost-rows");
    COST_STAGES.forEach(([key, label], i) => {
      const row = el("div", "cost-row");
      const track = el("div", "cost-track");
      const fill = el("div", `cost-fill s-${key}`);
      fill.style.width = `${peak > 0 ? (values[i] / peak) * 100 : 0}%`;
      track.appendChild(fill);
      row.append(
        el("span", `swatch s-${key}`),
        el("span", "", label),
        track,
        el("span", "num", fmtCost(values[i])),
      );
      rows.appendChild(row);
    });
    const total = el("div", "cost-row total");
    total.append(
      el("span"),
      el("span", "", "Total"),
      el("span"),
      el(
        "span",
        "num",
        fmtCallCost({
          ...cost,
          total: isNumber(cost.total) ? cost.total : values.reduce((a, b) => a + b, 0),
        }),
      ),
    );
    rows.appendChild(total);
    panel.appendChild(rows);
    return panel;
  }

  function latencySegments(latency) {
    const segments = [];
    let sum = 0;
    for (const [key, label, field] of LATENCY_STAGES) {
      const value = latency[field];
      if (isNumber(value) && value > 0) {
        segments.push({ key, label, value });
        sum += value;
      }
    }
    const total = isNumber(latency.total_ms) ? latency.total_ms : null;
    if (total !== null && total - sum >= 1) {
      segments.push({
        key: "other",
        label: segments.length ? "Other (endpointing, network)" : "End to end",
        value: total - sum,
      });
    }
    return { segments, total: total !== null ? Math.max(total, sum) : sum };
  }

  function renderLatency(turns) {
    const panel = section("Latency per turn");
    const measured = turns.map((turn) => ({
      turn,
      ...latencySegments((turn && turn.latency) || {}),
    }));
    if (!measured.some((m) => m.segments.length)) {
      panel.appendChild(
        el("p", "empty", turns.length ? "No latency measured on these turns." : "No turns yet."),
      );
      return panel;
    }
    const width = widthOf($("detail-body"), 660) - 80;
    const rowH = 22;
    const gap = 10;
    const left = 58;
    const right = 72;
    const top = 4;
    const axisH = 22;
    const height = top + measured.length * (rowH + gap) + axisH;
    const plotW = width - left - right;
    const peak = Math.max(...measured.map((m) => m.total), 1);
    const step = niceStep(peak, 4);
    const max = Math.ceil(peak / step) * step;
    const chart = svg("svg", {
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      class: "latency",
      role: "img",
      "aria-label": "Latency per turn by stage",
    });
    const axisY = top + measured.length * (rowH + gap);
    for (let v = 0; v <= max + step / 2; v += step) {
      const x = left + (v / max) * plotW;
      chart.appendChild(
        svg("line", { x1: x, x2: x, y1: top, y2: axisY, class: v === 0 ? "axis" : "grid" }),
      );
      const last = v + step > max + step / 2;
      chart.appendChild(
        svg(
          "text",
          { x, y: axisY + 15, "text-anchor": "middle", class: "tick" },
          `${v.toLocaleString("en-US")}${last ? " ms" : ""}`,
        ),
      );
    }
    const used = new Set();
    measured.forEach((m, i) => {
      const y = top + i * (rowH + gap) + gap / 2;
      const index = isNumber(m.turn.turn_index) ? m.turn.turn_index + 1 : i + 1;
      chart.appendChild(svg("text", { x: 0, y: y + rowH / 2 + 4, class: "tick" }, `Turn ${index}`));
      const row = svg("g", { class: "latency-row" });
      let x = left;
      for (const segment of m.segments) {
        used.add(segment.key);
        const w = (segment.value / max) * plotW;
        row.appendChild(
          withTitle(
            svg("rect", {
              x,
              y,
              width: Math.max(w, 1),
              height: rowH,
              rx: 2,
              class: `s-${segment.key}`,
            }),
            `${segment.label}: ${fmtMs(segment.value)}`,
          ),
        );
        if (w > 48) {
          row.appendChild(
            svg(
              "text",
              { x: x + w / 2, y: y + rowH / 2 + 4, "text-anchor": "middle", class: "seg-label" },
              fmtMs(segment.value),
            ),
          );
        }
        x += w;
      }
      row.appendChild(
        svg(
          "text",
          { x: x + 6, y: y + rowH / 2 + 4, class: "bar-label" },
          m.segments.length ? fmtMs(m.total) : "–",
        ),
      );
      const text = m.turn.user_text ? `Caller: ${m.turn.user_text}` : `Turn ${index}`;
      chart.appendChild(withTitle(row, text));
    });
    panel.appendChild(chart);
    const legend = el("div", "legend");
    for (const [key, label] of [...LATENCY_STAGES, ["other", "Other / end to end"]]) {
      if (used.has(key)) legend.appendChild(legendItem(key, label));
    }
    panel.appendChild(legend);
    return panel;
  }

  function renderTranscript(call, transcript) {
    const panel = section("Transcript");
    const list = el("div", "transcript");
    for (const line of transcript) {
      const role = line.role === "assistant" ? "assistant" : "user";
      const bubble = el("div", `bubble ${role}${line.heard === false ? " unheard" : ""}`);
      const at =
        isNumber(line.at) && isNumber(call.started_at)
          ? ` · ${fmtDuration(line.at - call.started_at)}`
          : "";
      const meta = `${role === "assistant" ? "Agent" : "Caller"}${at}${line.heard === false ? " · not heard by the caller" : ""}`;
      bubble.append(el("div", "bubble-meta", meta), el("div", "bubble-text", line.text));
      list.appendChild(bubble);
    }
    for (const [role, text] of Object.entries(state.detailPartials)) {
      if (!text) continue;
      const bubble = el("div", `bubble ${role === "assistant" ? "assistant" : "user"} partial`);
      bubble.append(
        el("div", "bubble-meta", `${role === "assistant" ? "Agent" : "Caller"} · speaking`),
        el("div", "bubble-text", `${text}…`),
      );
      list.appendChild(bubble);
    }
    if (!list.childElementCount)
      list.appendChild(
        el(
          "p",
          "empty",
          call.active ? "Waiting for the first words…" : "Nothing was said on this call.",
        ),
      );
    panel.appendChild(list);
    return panel;
  }

  // ---- Wiring -------------------------------------------------------------------------------

  function tick() {
    for (const entry of state.active.values()) {
      if (entry.timerNode) entry.timerNode.textContent = fmtDuration(liveDuration(entry.call));
    }
    for (const node of document.querySelectorAll("[data-live-start]")) {
      node.textContent = fmtDuration(nowSeconds() - Number(node.dataset.liveStart));
    }
    const rows = $("history").rows;
    state.calls.forEach((call, i) => {
      if (call.active && rows[i])
        rows[i].querySelector(".duration").textContent = fmtDuration(liveDuration(call));
    });
  }

  function activate(event, selector) {
    const target = event.target.closest(selector);
    if (target && target.dataset.id) openDetail(target.dataset.id);
  }

  function wire() {
    $("history").addEventListener("click", (e) => activate(e, "tr[data-id]"));
    $("active-list").addEventListener("click", (e) => activate(e, ".active-call"));
    for (const id of ["history", "active-list"]) {
      $(id).addEventListener("keydown", (e) => {
        if (e.key === "Enter") activate(e, "[data-id]");
      });
    }
    $("detail-close").addEventListener("click", closeDetail);
    $("scrim").addEventListener("click", closeDetail);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.detailId) closeDetail();
    });
    window.addEventListener("hashchange", route);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    let searchTimer = 0;
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => loadHistory(true).catch(failed), 250);
    });
    for (const id of ["filter-status", "filter-direction"]) {
      $(id).addEventListener("change", () => loadHistory(true).catch(failed));
    }
    $("load-more").addEventListener("click", () => loadHistory(false).catch(failed));
    for (const button of document.querySelectorAll("[data-bucket]")) {
      button.addEventListener("click", () => {
        state.bucket = button.dataset.bucket;
        state.bucketChosen = true;
        showBucket();
        loadCosts().catch(failed);
      });
    }
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (state.locked) return;
        renderCostChart();
        if (state.detail) renderDetail();
      }, 150);
    });
    setInterval(tick, 1000);
  }

  readToken();
  wire();
  updateExportLinks();
  route();
  connect();
  scheduleLoad();
})();
