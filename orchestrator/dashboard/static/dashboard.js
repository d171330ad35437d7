// Bilevel dashboard: fills each page from the JSON it polls.
// Every value from a journal is untrusted (mechanism names, hypotheses, LLM text): it enters
// the DOM only through textContent / attribute properties, never innerHTML, and Plotly text
// is entity-escaped (plotText) because Plotly reads a few HTML tags in labels.
"use strict";

(function () {
  const body = document.body;
  const page = body.dataset.page || "";
  const study = body.dataset.study || "";
  const pollMs = Number(body.dataset.pollMs) || 1500;
  // Okabe-Ito colours, one per meaning, as in the static reports.
  const COLOURS = {
    value: "#0072B2", best: "#D55E00", failed: "#7F7F7F", noise: "#CC79A7",
    promoted: "#009E73", reverted: "#D55E00", research: "#E69F00", restart: "#56B4E9",
  };
  const SERIES = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

  // ------------------------------------------------------------------ helpers
  function studyPath(name) {
    return name.split("/").map(encodeURIComponent).join("/");
  }
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function link(href, text) {
    const a = el("a", text);
    a.href = href; // always built here from fixed prefixes and encodeURIComponent
    return a;
  }
  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
    return Number(value).toFixed(digits === undefined ? 4 : digits);
  }
  // The incumbent as the mean of its evaluations: "3.5012 ± 0.0040 (n=3)".
  function estimateText(e) {
    if (!e || e.mean === null || e.mean === undefined) return "–";
    const n = " (n=" + Number(e.n) + ")";
    if (e.low === null || e.high === null) return fmt(e.mean) + n;
    return fmt(e.mean) + " ± " + fmt((Number(e.high) - Number(e.low)) / 2) + n;
  }
  function signed(value, digits) {
    if (value === null || value === undefined) return "–";
    const text = fmt(value, digits);
    return Number(value) > 0 ? "+" + text : text;
  }
  function plotText(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function jsonText(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  // Values as a reader wants them: 0.2521353309 -> 0.2521 (4 significant digits).
  function valueText(value) {
    if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(4)));
    return jsonText(value);
  }
  function changesText(changes) {
    return Object.entries(changes || {}).map(([k, v]) => k + "=" + valueText(v)).join(", ");
  }
  function shortTime(ts) {
    if (!ts) return "–";
    const when = new Date(ts);
    return Number.isNaN(when.getTime()) ? String(ts) : when.toLocaleString();
  }
  function cell(content, cls) {
    const td = el("td", null, cls);
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === null || content === undefined ? "" : String(content);
    return td;
  }
  // A cell for long free text in a summary table: one line, the whole text on hover.
  function clipped(text) {
    const td = cell(text, "clip");
    td.title = text === null || text === undefined ? "" : String(text);
    return td;
  }
  function tableRow(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c instanceof Node && c.tagName === "TD" ? c : cell(c));
    return tr;
  }
  function fillBody(tableId, rows, emptyId) {
    const table = document.getElementById(tableId);
    if (!table) return;
    table.tBodies[0].replaceChildren(...rows);
    if (emptyId) {
      const empty = document.getElementById(emptyId);
      if (empty) empty.hidden = rows.length > 0;
      table.hidden = rows.length === 0;
    }
  }
  function summary(listId, pairs) {
    const dl = document.getElementById(listId);
    if (!dl) return;
    const items = [];
    for (const [term, value] of pairs) {
      const box = el("div");
      box.append(el("dt", term), el("dd", value));
      items.push(box);
    }
    dl.replaceChildren(...items);
  }
  function setLive(ok, error) {
    const live = document.getElementById("live");
    const box = document.getElementById("error");
    if (live) {
      live.textContent = ok ? "live · " + new Date().toLocaleTimeString() : "offline";
      live.className = ok ? "live ok" : "live down";
    }
    if (box) {
      box.hidden = ok;
      box.textContent = ok ? "" : "cannot reach the dashboard server: " + String(error);
    }
  }
  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }
  // Poll `url` (with ?since=<seq> once it has data) and render when something changed.
  function poll(url, render, interval) {
    let seq = null;
    async function tick() {
      try {
        const data = await getJSON(seq === null ? url : url + "?since=" + encodeURIComponent(seq));
        if (!data.unchanged) {
          render(data);
          seq = data.seq === undefined ? null : data.seq;
        }
        setLive(true);
      } catch (error) {
        setLive(false, error);
      }
      window.setTimeout(tick, interval || pollMs);
    }
    tick();
  }
  function plot(id, traces, layout) {
    const node = document.getElementById(id);
    if (!node || !window.Plotly) return;
    const base = {
      margin: { l: 60, r: 20, t: 30, b: 45 },
      font: { family: "system-ui, sans-serif", size: 12 },
      legend: { orientation: "h", y: -0.2 },
      hovermode: "closest",
    };
    window.Plotly.react(node, traces, Object.assign(base, layout), PLOT_CONFIG);
  }
  // Trial indices are integers: ticks every 1, 2, 5, ... trials, never at 0.5.
  function trialAxis(count) {
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
    const dtick = steps.find((s) => count / s <= 15) || 1000;
    return { title: { text: "trial" }, tick0: 0, dtick, zeroline: false };
  }
  function markerShapes(markers) {
    const shapes = [];
    const notes = [];
    for (const m of markers || []) {
      const colour = COLOURS[m.kind] || "#999999";
      shapes.push({
        type: "line", xref: "x", yref: "paper", x0: m.iteration - 0.5, x1: m.iteration - 0.5,
        y0: 0, y1: 1, line: { color: colour, width: 1.5, dash: m.kind === "research" ? "dot" : "dash" },
      });
      // Research sessions are labelled inside the bottom edge, promotions and reverts above
      // the top: they often fall on neighbouring trials and would overprint each other.
      const bottom = m.kind === "research" || m.kind === "restart";
      notes.push({
        xref: "x", yref: "paper", x: m.iteration - 0.5, y: bottom ? 0 : 1,
        yanchor: "bottom", xanchor: "left", showarrow: false,
        text: plotText(m.kind + " " + m.label), font: { size: 10, color: colour }, textangle: 0,
      });
    }
    return { shapes, annotations: notes };
  }

  // ------------------------------------------------------------------ index
  function renderIndex(data) {
    const rows = (data.studies || []).map((s) => tableRow([
      cell(link("/study/" + studyPath(s.name), s.name)),
      cell(s.state, "state " + s.state),
      clipped(s.objective),
      clipped(s.agent),
      cell(s.trials, "num"),
      cell(s.running, "num"),
      s.metric + (s.direction === "maximize" ? " ↑" : " ↓"),
      cell(fmt(s.best), "num"),
      cell(signed(s.improvement), "num"),
      shortTime(s.last_at),
    ]));
    fillBody("studies", rows, "no-studies");
    const list = document.getElementById("ablations");
    const items = (data.ablations || []).map((name) => {
      const li = el("li");
      li.appendChild(link("/ablation/" + encodeURIComponent(name), name));
      return li;
    });
    list.replaceChildren(...items);
    document.getElementById("no-ablations").hidden = items.length > 0;
  }

  // ------------------------------------------------------------------ study
  let trialSort = { key: "index", descending: false };
  let lastStudy = null;

  function sortValue(trial, key) {
    const value = trial[key];
    if (key === "changes") return changesText(value);
    if (key === "fired") return (value || []).join(",");
    return value === null || value === undefined ? "" : value;
  }
  function sortedTrials(trials) {
    const { key, descending } = trialSort;
    const copy = trials.slice();
    copy.sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      if (x === "" && y !== "") return 1; // missing values last, whatever the direction
      if (y === "" && x !== "") return -1;
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return descending ? -order : order;
    });
    return copy;
  }
  // A code trial's changes end with a link to its recipe diff (the /patch page shows it
  // highlighted and inert); the sha is checked to be hex before it is put in a URL.
  function changesCell(t) {
    const td = cell(changesText(t.changes), "changes");
    const sha = t.patch_sha256 || "";
    if (/^[0-9a-f]{64}$/.test(sha)) {
      if (td.textContent) td.appendChild(document.createTextNode(", "));
      td.appendChild(link("/patch/" + studyPath(study) + "?sha=" + sha, "recipe diff " + sha.slice(0, 12)));
    }
    return td;
  }
  function renderTrials(data) {
    const rows = sortedTrials(data.trials).map((t) => {
      const tr = tableRow([
        cell(t.index, "num"),
        cell(t.status, "status " + t.status),
        cell(fmt(t.value), "num"),
        t.kept ? "kept" : "",
        t.source,
        changesCell(t),
        (t.fired || []).join(", "),
        cell(t.error && t.status !== "ok" ? t.hypothesis + " — " + t.error : t.hypothesis, "text"),
      ]);
      tr.dataset.index = String(t.index);
      if (t.kept) tr.className = "kept";
      return tr;
    });
    fillBody("trials", rows);
    for (const th of document.querySelectorAll("#trials th[data-key]")) {
      th.classList.toggle("sorted", th.dataset.key === trialSort.key);
      th.classList.toggle("descending", th.dataset.key === trialSort.key && trialSort.descending);
    }
  }
  function renderProgress(data) {
    const search = data.trials.filter((t) => t.source !== "noise" && t.source !== "reseed");
    const ok = search.filter((t) => t.value !== null);
    const noise = data.trials.filter((t) => (t.source === "noise" || t.source === "reseed") && t.value !== null);
    const failed = search.filter((t) => !["ok", "running", "interrupted"].includes(t.status));
    const finished = search.filter((t) => t.status !== "running" && t.best !== null);
    const label = (t) => plotText("#" + t.index + " " + t.source + ": " + t.hypothesis).slice(0, 300);
    const metric = data.row.metric;
    const traces = [
      {
        name: metric, x: ok.map((t) => t.index), y: ok.map((t) => t.value), text: ok.map(label),
        mode: "markers", type: "scatter", hoverinfo: "x+y+text",
        marker: { color: ok.map((t) => (t.kept ? COLOURS.best : COLOURS.value)), size: ok.map((t) => (t.kept ? 10 : 7)) },
      },
      {
        name: "best so far", x: finished.map((t) => t.index), y: finished.map((t) => t.best),
        mode: "lines", type: "scatter", line: { shape: "hv", color: COLOURS.best, width: 2 }, hoverinfo: "x+y",
      },
    ];
    if (failed.length) {
      const floor = ok.length ? (data.row.direction === "maximize" ? Math.min(...ok.map((t) => t.value)) : Math.max(...ok.map((t) => t.value))) : 0;
      traces.push({
        name: "failed", x: failed.map((t) => t.index), y: failed.map(() => floor),
        text: failed.map((t) => plotText("#" + t.index + " " + t.status + ": " + t.error).slice(0, 300)),
        mode: "markers", type: "scatter", hoverinfo: "x+text",
        marker: { symbol: "x", color: COLOURS.failed, size: 8 },
      });
    }
    if (noise.length) {
      traces.push({
        name: "noise / reseed", x: noise.map((t) => t.index), y: noise.map((t) => t.value),
        mode: "markers", type: "scatter", marker: { color: COLOURS.noise, symbol: "diamond", size: 7 },
      });
    }
    const marks = markerShapes(data.markers);
    plot("progress", traces, {
      height: 380,
      xaxis: Object.assign(trialAxis(data.trials.length), { title: { text: "trial", standoff: 22 } }),
      margin: { l: 60, r: 20, t: 40, b: 60 },
      yaxis: { title: { text: plotText(metric + (data.row.direction === "maximize" ? " (higher is better)" : " (lower is better)")) } },
      shapes: marks.shapes,
      annotations: marks.annotations,
    });
  }
  function renderTrajectory(data) {
    const select = document.getElementById("param");
    const previous = select.value;
    const options = data.params.map((name) => {
      const option = el("option", name);
      option.value = name;
      return option;
    });
    select.replaceChildren(...options);
    if (data.params.includes(previous)) select.value = previous;
    const name = select.value;
    if (!name) {
      plot("trajectory", [], { height: 300, annotations: [{ text: "no parameter varied yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] });
      return;
    }
    const trials = data.trials.filter((t) => data.configs[String(t.index)] && data.configs[String(t.index)][name] !== undefined);
    plot("trajectory", [{
      name: plotText(name), x: trials.map((t) => t.index), y: trials.map((t) => jsonTyped(data.configs[String(t.index)][name])),
      mode: "lines+markers", type: "scatter", line: { color: "#BBBBBB", width: 1 },
      marker: { color: trials.map((t) => (t.kept ? COLOURS.best : t.status === "ok" ? COLOURS.value : COLOURS.failed)), size: 8 },
      text: trials.map((t) => plotText("#" + t.index + " " + t.status)), hoverinfo: "x+y+text",
    }], { height: 300, xaxis: trialAxis(data.trials.length), yaxis: { title: { text: plotText(name) } }, showlegend: false });
  }
  function jsonTyped(value) {
    return typeof value === "number" || typeof value === "string" ? value : JSON.stringify(value);
  }
  function renderStudy(data) {
    lastStudy = data;
    const r = data.row;
    summary("summary", [
      ["state", r.state],
      ["phase", data.phase || "–"],
      ["objective", r.objective || "–"],
      ["agent", r.agent || "–"],
      ["metric", r.metric + (r.direction === "maximize" ? " (higher is better)" : " (lower is better)")],
      ["trials done", r.trials],
      ["running", r.running],
      ["baseline", fmt(data.baseline)],
      ["best", fmt(r.best)],
      ["improvement", signed(r.improvement)],
      ["best, mean of its runs", estimateText(data.best_estimate)],
      ["noise floor", fmt(data.noise_floor)],
      ["hardware", data.hardware || "–"],
      ["last event", shortTime(r.last_at)],
    ]);
    const head = document.getElementById("metric-head");
    if (head) head.textContent = r.metric;
    renderProgress(data);
    const running = data.trials.filter((t) => t.status === "running").map((t) => {
      const p = t.progress || {};
      return tableRow([
        cell(t.index, "num"), t.source, cell(changesText(t.changes), "changes"),
        cell(p.step === undefined || p.step === null ? "–" : p.step, "num"), cell(fmt(p.loss), "num"),
        cell(p.budget_frac === undefined || p.budget_frac === null ? "–" : Math.round(p.budget_frac * 100) + "%", "num"),
      ]);
    });
    fillBody("running", running, "no-running");
    renderTrials(data);
    renderTrajectory(data);
    fillBody("policy", data.policy.map((p) => tableRow([
      cell(p.iteration, "num"),
      cell(p.diagnosis, "text"),
      cell(Object.entries(p.diff || {}).map(([k, v]) => k + ": " + (Array.isArray(v) ? v.map(jsonText).join(" → ") : jsonText(v))).join("; "), "changes"),
      cell((p.notes || []).join("; "), "text"),
    ])));
  }
  function setupStudy() {
    for (const th of document.querySelectorAll("#trials th[data-key]")) {
      th.addEventListener("click", () => {
        const key = th.dataset.key;
        trialSort = { key, descending: trialSort.key === key ? !trialSort.descending : false };
        if (lastStudy) renderTrials(lastStudy);
      });
    }
    document.getElementById("param").addEventListener("change", () => {
      if (lastStudy) renderTrajectory(lastStudy);
    });
    poll("/api/study/" + studyPath(study), renderStudy);
  }

  // ------------------------------------------------------------------ mechanisms
  function sourceLink(sha, text) {
    return link("/source/" + studyPath(study) + "?sha=" + encodeURIComponent(sha), text);
  }
  function renderMechanisms(data) {
    const rows = data.mechanisms.map((m) => tableRow([
      cell(m.name, "name"), cell(m.status, "status " + m.status), (m.hooks || []).join(", "),
      cell(m.session === null ? "–" : m.session, "num"), cell(m.active_from === null ? "–" : m.active_from, "num"),
      cell(m.fired, "num"), cell(m.ran, "num"), cell(fmt(m.credit), "num"),
      cell(fmt(m.arbiter_credit, 3), "num"), cell(m.reason, "text"),
      m.has_source && m.sha ? cell(sourceLink(m.sha, "source")) : "",
    ]));
    fillBody("mechanisms", rows, "no-mechanisms");
    const series = (values) => data.mechanisms.map((m, i) => ({
      name: plotText(m.name), x: data.indices, y: values[m.name], mode: "lines", type: "scatter",
      line: { shape: "hv", color: SERIES[i % SERIES.length], width: 2 },
    }));
    plot("firing", series(data.firing), { height: 300, xaxis: trialAxis(data.indices.length), yaxis: { title: { text: "trials fired in (cumulative)" } } });
    const arbiter = data.arbiter || { indices: [], series: {} };
    if (arbiter.indices.length) {
      // The arbiter's own credit (discounted mean reward per source), choice by choice.
      const credit = Object.entries(arbiter.series).map(([source, values], i) => ({
        name: plotText(source === "level1" ? "Level 1" : source.replace(/^mechanism:/, "")),
        x: arbiter.indices, y: values, mode: "lines", type: "scatter", connectgaps: false,
        line: { shape: "hv", color: source === "level1" ? "#999999" : SERIES[i % SERIES.length], width: 2, dash: source === "level1" ? "dot" : "solid" },
      }));
      plot("credit", credit, {
        height: 300, xaxis: trialAxis(Math.max(...arbiter.indices, 1)),
        yaxis: { title: { text: "arbiter credit" } },
      });
    } else {
      const credit = series(data.credit);
      credit.push({
        name: "Level 1", x: data.indices, y: data.level1_credit, mode: "lines", type: "scatter",
        line: { shape: "hv", color: "#999999", width: 2, dash: "dot" },
      });
      plot("credit", credit, {
        height: 300, xaxis: trialAxis(data.indices.length),
        yaxis: { title: { text: plotText("improvement of best " + data.metric + " (cumulative)") } },
      });
    }
    fillBody("verdicts", data.verdicts.map((v) => tableRow([
      cell(v.session, "num"), cell(v.mechanism, "name"), cell(v.attempt, "num"),
      cell(v.accepted ? "accepted" : "rejected", v.accepted ? "status ok" : "status crashed"), v.stage,
      cell(v.reason + ((v.missing_packages || []).length ? " (missing: " + v.missing_packages.join(", ") + ")" : ""), "text"),
      cell(fmt(v.seconds, 2), "num"),
      v.sha && v.path ? cell(sourceLink(v.sha, "source")) : "",
    ])));
  }

  // ------------------------------------------------------------------ research
  function renderResearch(data) {
    const container = document.getElementById("sessions");
    const open = new Set([...container.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    const sections = data.sessions.map((s) => {
      const section = el("section", null, "session");
      section.appendChild(el("h2", "Session #" + s.session + " — " + s.outcome));
      const facts = [
        "trigger: " + (s.trigger || "–"), "at trial " + (s.iteration === null ? "–" : s.iteration),
        "repairs: " + s.repairs, s.mechanism ? "module: " + s.mechanism : "",
      ].filter(Boolean).join(" · ");
      section.appendChild(el("p", facts, "note"));
      if (s.reason) section.appendChild(el("p", s.reason, "text"));
      for (const round of s.rounds) {
        const details = el("details");
        details.dataset.key = s.session + ":" + round.round;
        details.open = open.has(details.dataset.key);
        const head = el("summary");
        head.append(el("strong", round.round), document.createTextNode(" — " + round.summary));
        details.appendChild(head);
        const payload = Object.assign({}, round.payload);
        if (typeof payload.source === "string") {
          const code = payload.source;
          delete payload.source;
          details.appendChild(el("pre", JSON.stringify(payload, null, 2), "payload"));
          details.appendChild(el("pre", code, "payload code"));
        } else {
          details.appendChild(el("pre", JSON.stringify(payload, null, 2), "payload"));
        }
        section.appendChild(details);
      }
      if (s.verdicts.length) {
        const table = el("table", null, "data");
        const headRow = table.createTHead().insertRow();
        for (const h of ["attempt", "verdict", "stage", "reason", "source"]) headRow.appendChild(el("th", h));
        const tbody = table.createTBody();
        for (const v of s.verdicts) {
          tbody.appendChild(tableRow([
            cell(v.attempt, "num"), cell(v.accepted ? "accepted" : "rejected", v.accepted ? "status ok" : "status crashed"),
            v.stage, cell(v.reason, "text"), v.sha && v.path ? cell(sourceLink(v.sha, v.mechanism)) : v.mechanism,
          ]));
        }
        section.appendChild(table);
      }
      return section;
    });
    container.replaceChildren(...sections);
    document.getElementById("no-sessions").hidden = sections.length > 0;
  }

  // ------------------------------------------------------------------ LLM calls
  function renderLlm(data) {
    const calls = data.calls;
    const roles = Object.entries(data.by_role).map(([role, t]) => [role, t.calls + " calls, " + t.tokens + " tokens, $" + fmt(t.cost_usd, 4)]);
    summary("llm-summary", [["calls", calls.length], ["cost", "$" + fmt(data.cost_usd, 4)], ...roles]);
    const x = calls.map((_, i) => i + 1);
    const hover = calls.map((c) => plotText(c.role + " · " + c.model));
    let total = 0;
    const cumulative = calls.map((c) => (total += c.cost_usd));
    plot("llm-plot", [
      { name: "prompt tokens", x, y: calls.map((c) => c.prompt_tokens), type: "bar", text: hover, textposition: "none", hoverinfo: "x+y+text", marker: { color: SERIES[0] } },
      { name: "completion tokens", x, y: calls.map((c) => c.completion_tokens), type: "bar", marker: { color: SERIES[1] } },
      { name: "cost $ (cumulative)", x, y: cumulative, type: "scatter", mode: "lines", yaxis: "y2", line: { color: SERIES[2] } },
      { name: "latency s", x, y: calls.map((c) => c.latency_s), type: "scatter", mode: "markers", yaxis: "y3", text: hover, hoverinfo: "x+y+text", marker: { color: calls.map((c) => (c.ok ? SERIES[3] : COLOURS.failed)) } },
    ], {
      height: 520, barmode: "stack",
      xaxis: { title: { text: "call" }, anchor: "y3" },
      yaxis: { title: { text: "tokens" }, domain: [0.68, 1] },
      yaxis2: { title: { text: "cost $" }, domain: [0.36, 0.62] },
      yaxis3: { title: { text: "latency s" }, domain: [0, 0.3] },
    });
    fillBody("calls", calls.map((c) => tableRow([
      shortTime(c.at), c.role, c.model, cell(c.prompt_tokens, "num"), cell(c.completion_tokens, "num"),
      cell(fmt(c.cost_usd, 5), "num"), cell(fmt(c.latency_s, 2), "num"),
      cell(c.ok ? "ok" : "failed", c.ok ? "status ok" : "status crashed"), cell(c.error, "text"),
      c.transcript ? cell(link("/transcript/" + studyPath(study) + "?seq=" + encodeURIComponent(c.seq), "transcript")) : "",
    ])), "no-calls");
  }

  // ------------------------------------------------------------------ start
  const pages = {
    index: () => poll("/api/studies", renderIndex, pollMs * 2),
    study: setupStudy,
    mechanisms: () => poll("/api/mechanisms/" + studyPath(study), renderMechanisms),
    research: () => poll("/api/research/" + studyPath(study), renderResearch),
    llm: () => poll("/api/llm/" + studyPath(study), renderLlm),
  };
  if (pages[page]) pages[page]();
})();
