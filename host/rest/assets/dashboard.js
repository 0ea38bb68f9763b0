// loopchain dashboard: polls /api/v1/dashboard/state every second, derives the tx/s and
// finality latency series from successive states (bounded), draws them with uPlot and lists
// channels, members, the latest blocks with their QC signers, and recent collector events.
//
// Machine-checkable state (used by the browser test): #app carries data-updates,
// data-updated-at, data-channels, data-charts and data-charts-rendered (canvases with a non-zero
// size); each channel section carries data-channel, data-height, data-first-height, data-round,
// data-epoch, data-peers-up, data-peers-down; each member row carries data-peer-id, data-state
// (up / down) and data-height.
(function () {
  "use strict";

  const POLL_MS = 1000;
  const EVENTS_EVERY = 3; // polls
  const MAX_POINTS = 300; // five minutes at one point a second
  const TPS_WINDOW = 5; // tx/s is the rate over the last few polls (one block per poll is spiky)
  const COLORS = ["#2f5fd0", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#5c940d", "#e67700"];

  const app = document.getElementById("app");
  const statusEl = document.getElementById("status");
  const nodeEl = document.getElementById("node");
  const channelsEl = document.getElementById("channels");

  // Series: shared x (seconds), per channel tx/s and latency (ms), all at most MAX_POINTS long.
  const series = { x: [], tps: {}, latency: {} };
  const previous = {}; // channel -> {t, total, finCount, finSum}
  const totals = {}; // channel -> recent [t, committed_tx_total] (at most TPS_WINDOW + 1)
  const firstHeight = {};
  let channelNames = [];
  let charts = null;
  let updates = 0;
  let errors = 0;

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined) continue;
        if (k === "text") e.textContent = String(v);
        else if (k === "cls") e.className = v;
        else e.setAttribute(k, String(v));
      }
    }
    for (const c of children || []) {
      if (c !== null && c !== undefined) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function short(id) {
    if (typeof id !== "string") return "";
    return id.length > 14 ? id.slice(0, 8) + "…" + id.slice(-4) : id;
  }

  function fmtTime(us) {
    if (typeof us !== "number" || us <= 0) return "";
    return new Date(us / 1000).toISOString().slice(11, 23);
  }

  function fmtNum(v, digits) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    return v.toFixed(digits);
  }

  function push(arr, v) {
    arr.push(v);
    while (arr.length > MAX_POINTS) arr.shift();
  }

  // ---- charts -----------------------------------------------------------------------------

  function chartWidth(div) {
    return Math.max(300, Math.floor(div.clientWidth || div.parentElement.clientWidth || 600) - 4);
  }

  function makeChart(div, unit) {
    const opts = {
      width: chartWidth(div),
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(
        channelNames.map((name, i) => ({
          label: name,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(1) + " " + unit),
        }))
      ),
      axes: [{}, { size: 60 }],
    };
    return new uPlot(opts, chartData("tps"), div);
  }

  function chartData(kind) {
    const data = [series.x.slice()];
    for (const name of channelNames) data.push((series[kind][name] || []).slice());
    return data;
  }

  function ensureCharts() {
    if (charts || typeof uPlot === "undefined") return;
    const tpsDiv = document.getElementById("chart-tps");
    const latDiv = document.getElementById("chart-latency");
    charts = { tps: makeChart(tpsDiv, "tx/s"), latency: makeChart(latDiv, "ms") };
    app.dataset.charts = "2";
    window.addEventListener("resize", () => {
      charts.tps.setSize({ width: chartWidth(tpsDiv), height: 220 });
      charts.latency.setSize({ width: chartWidth(latDiv), height: 220 });
    });
  }

  function drawCharts() {
    ensureCharts();
    if (!charts) return;
    charts.tps.setData(chartData("tps"));
    charts.latency.setData(chartData("latency"));
    document.getElementById("chart-tps").dataset.points = String(series.x.length);
    document.getElementById("chart-latency").dataset.points = String(series.x.length);
    let rendered = 0;
    document.querySelectorAll(".chart").forEach((div) => {
      const c = div.querySelector("canvas");
      if (c && c.width > 0 && c.height > 0 && c.getBoundingClientRect().width > 0) rendered += 1;
    });
    app.dataset.chartsRendered = String(rendered);
  }

  function record(state) {
    const t = Date.now() / 1000;
    push(series.x, t);
    for (const ch of state.channels) {
      const name = ch.name;
      if (!series.tps[name]) {
        // A channel that appears later gets empty history up to now.
        series.tps[name] = series.x.slice(0, -1).map(() => null);
        series.latency[name] = series.x.slice(0, -1).map(() => null);
      }
      const prev = previous[name];
      let tps = null;
      let latency = null;
      const fin = ch.finality || {};
      const recent = totals[name] || (totals[name] = []);
      if (recent.length && ch.committed_tx_total < recent[recent.length - 1][1]) recent.length = 0; // restarted
      recent.push([t, ch.committed_tx_total]);
      while (recent.length > TPS_WINDOW + 1) recent.shift();
      if (recent.length > 1 && t > recent[0][0]) {
        tps = (ch.committed_tx_total - recent[0][1]) / (t - recent[0][0]);
      }
      if (prev && fin.count > prev.finCount) {
        latency = ((fin.sum_seconds - prev.finSum) / (fin.count - prev.finCount)) * 1000;
      } else if (typeof fin.recent_mean_ms === "number") {
        latency = fin.recent_mean_ms;
      }
      push(series.tps[name], tps);
      push(series.latency[name], latency);
      previous[name] = { t: t, total: ch.committed_tx_total, finCount: fin.count || 0, finSum: fin.sum_seconds || 0 };
    }
    // Channels gone from the state keep their length in step with x.
    for (const name of Object.keys(series.tps)) {
      if (!state.channels.some((c) => c.name === name)) {
        push(series.tps[name], null);
        push(series.latency[name], null);
      }
    }
  }

  // ---- channels ---------------------------------------------------------------------------

  function stat(label, value, attrs) {
    return el("span", Object.assign({ cls: "stat" }, attrs || {}), [label + " ", el("b", { text: value })]);
  }

  function membersTable(ch) {
    const body = el("tbody");
    for (const m of ch.members) {
      const link = m.link;
      const linkText = link ? `${link.connected ? "connected" : "not connected"} · sent ${link.sent} · dropped ${link.dropped} · failures ${link.failures}` : m.self ? "this node" : "";
      body.appendChild(
        el(
          "tr",
          {
            "data-peer-id": m.peer_id,
            "data-state": m.state,
            "data-height": m.height === null || m.height === undefined ? "" : m.height,
            "data-role": m.role,
            "data-self": m.self ? "1" : "0",
          },
          [
            el("td", { cls: "mono", title: m.peer_id }, [short(m.peer_id), m.self ? " (this node)" : ""]),
            el("td", { cls: "mono", text: m.target }),
            el("td", { text: m.role }),
            el("td", { text: m.weight }),
            el("td", null, [el("span", { cls: "badge " + m.state, text: m.state })]),
            el("td", { text: m.height === null || m.height === undefined ? "?" : m.height }),
            el("td", { cls: m.leader ? "leader" : "", text: m.leader ? "leader" : "" }),
            el("td", { cls: "muted", text: linkText }),
          ]
        )
      );
    }
    return el("table", { cls: "members" }, [
      el("thead", null, [el("tr", null, ["peer", "target", "role", "weight", "state", "height", "", "link"].map((h) => el("th", { text: h })))]),
      body,
    ]);
  }

  function blocksTable(ch) {
    const body = el("tbody");
    const validators = ch.members.filter((m) => m.role === "validator").length;
    for (const b of ch.blocks) {
      const signers = b.qc ? b.qc.signers : null;
      const signerCell = el("td", { cls: "mono" });
      if (signers) {
        signerCell.appendChild(el("span", { cls: "muted", text: `${signers.length}/${validators} ` }));
        for (const s of signers) signerCell.appendChild(el("span", { cls: "signer", title: s, text: short(s) }));
      } else {
        signerCell.appendChild(el("span", { cls: "muted", text: b.height === 0 ? "genesis" : "pending" }));
      }
      body.appendChild(
        el("tr", { "data-height": b.height, "data-signers": signers ? signers.length : "" }, [
          el("td", { text: b.height }),
          el("td", { cls: "mono", title: b.hash, text: short(b.hash) }),
          el("td", { text: b.tx_count }),
          el("td", { cls: "mono", title: b.proposer, text: short(b.proposer) }),
          el("td", { text: fmtTime(b.timestamp_us) }),
          el("td", { text: b.finality_ms === null ? "–" : fmtNum(b.finality_ms, 1) }),
          signerCell,
        ])
      );
    }
    return el("table", { cls: "blocks" }, [
      el("thead", null, [el("tr", null, ["height", "hash", "txs", "proposer", "time (UTC)", "finality ms", "QC signers"].map((h) => el("th", { text: h })))]),
      body,
    ]);
  }

  function renderChannel(ch) {
    const id = "channel-" + ch.name;
    let section = document.getElementById(id);
    if (!section) {
      section = el("section", { id: id, cls: "channel" });
      channelsEl.appendChild(section);
    }
    if (firstHeight[ch.name] === undefined) firstHeight[ch.name] = ch.height;
    const up = ch.members.filter((m) => m.state === "up").length;
    const down = ch.members.length - up;
    section.dataset.channel = ch.name;
    section.dataset.height = String(ch.height);
    section.dataset.firstHeight = String(firstHeight[ch.name]);
    section.dataset.round = String(ch.round);
    section.dataset.epoch = String(ch.epoch);
    section.dataset.peersUp = String(up);
    section.dataset.peersDown = String(down);
    section.dataset.blocks = String(ch.blocks.length);
    const failures = Object.entries(ch.round_failures || {})
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    const summary = el("div", { cls: "summary" }, [
      stat("height", ch.height),
      stat("round", ch.round),
      stat("epoch", ch.epoch),
      stat("this node", ch.validator ? (ch.leader ? "validator, leading" : "validator") : "non-voting"),
      stat("mempool", ch.mempool),
      stat("in flight", ch.in_flight),
      stat("total tx", ch.total_tx),
      stat("peers up", `${up}/${ch.members.length}`),
      stat("round failures", failures || "none"),
      ch.score ? stat("SCORE calls / failures", `${ch.score.calls} / ${ch.score.failures}`) : null,
      ch.halted ? el("span", { cls: "halted", text: "HALTED: " + ch.halted }) : null,
    ]);
    const grid = el("div", { cls: "grid" }, [
      el("div", null, [el("h3", { text: "Members" }), membersTable(ch)]),
      el("div", null, [el("h3", { text: "Latest blocks" }), blocksTable(ch)]),
    ]);
    section.replaceChildren(el("h2", { text: "Channel " + ch.name }), summary, grid);
  }

  function render(state) {
    nodeEl.dataset.peerId = state.node.peer_id;
    nodeEl.textContent = `this node: ${state.node.peer_id} (${state.node.target})`;
    const names = state.channels.map((c) => c.name);
    if (charts === null) channelNames = names;
    for (const ch of state.channels) renderChannel(ch);
    for (const section of Array.from(channelsEl.children)) {
      if (!names.includes(section.dataset.channel)) section.remove();
    }
    app.dataset.channels = names.join(",");
  }

  // ---- events -----------------------------------------------------------------------------

  function renderEvents(answer) {
    const table = document.getElementById("events");
    const note = document.getElementById("events-note");
    const body = table.querySelector("tbody");
    const events = Array.isArray(answer.events) ? answer.events : [];
    note.textContent = answer.error || answer.note || (events.length ? "" : "no events yet");
    const rows = events.map((e) =>
      el("tr", { "data-event": e.event, "data-level": e.level }, [
        el("td", { text: fmtTime(e.ts_us) }),
        el("td", { cls: "mono", title: e.node, text: short(e.node) }),
        el("td", { text: e.channel || "" }),
        el("td", { text: e.level || "" }),
        el("td", { text: e.event || "" }),
        el("td", { text: e.height === null || e.height === undefined ? "" : e.height }),
        el("td", { text: e.round === null || e.round === undefined ? "" : e.round }),
        el("td", { text: e.message || "" }),
      ])
    );
    body.replaceChildren(...rows);
    table.dataset.count = String(rows.length);
  }

  async function pollEvents() {
    try {
      const r = await fetch("/api/v1/dashboard/events", { cache: "no-store" });
      renderEvents(await r.json());
    } catch (e) {
      document.getElementById("events-note").textContent = "events unavailable: " + e;
    }
  }

  // ---- loop -------------------------------------------------------------------------------

  async function poll() {
    try {
      const r = await fetch("/api/v1/dashboard/state", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const state = await r.json();
      render(state);
      record(state);
      drawCharts();
      updates += 1;
      app.dataset.updates = String(updates);
      app.dataset.updatedAt = String(Date.now());
      statusEl.dataset.state = "ok";
      statusEl.textContent = "live · updated " + new Date().toLocaleTimeString();
      if (updates % EVENTS_EVERY === 1) pollEvents();
    } catch (e) {
      errors += 1;
      app.dataset.errors = String(errors);
      statusEl.dataset.state = "error";
      statusEl.textContent = "node unreachable: " + e.message;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
