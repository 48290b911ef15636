// The safeheal dashboard: polls the gateway's /ui/api JSON and draws it.
// Every text from the server is set with textContent or as an attribute value, never parsed as
// HTML, so a model name or a reason holding markup shows as the characters it is.
"use strict";
(() => {
  const POLL_MS = 3000;
  const SVG = "http://www.w3.org/2000/svg";
  const ZONES = ["healthy", "watch", "drifting", "degraded", "critical"];
  const COLORS = {
    d: "#1f5fbf", a: "#c2410c", rho: "#7e22ce", sla: "#15803d", lat: "#0f766e", err: "#b91c1c",
  };

  let selected = null;
  let paused = false;
  let timer = null;
  const last = {};  // section -> JSON text last drawn (without generated_at)

  // --- small DOM helpers -------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function s(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function replace(id, ...nodes) {
    document.getElementById(id).replaceChildren(...nodes);
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function clock(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toISOString().slice(11, 16);
  }

  function num(x, digits = 3) {
    return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
  }

  function pct(x) {
    return `${Math.round(x * 10) / 10}%`;
  }

  function zoneBadge(zone) {
    if (!zone) return h("span", { class: "badge zone-none" }, "no decision yet");
    const known = ZONES.includes(zone) ? zone : "other";
    return h("span", { class: `badge zone-${known}` }, zone);
  }

  function split(arms) {
    if (!arms || arms.length === 0) return "not served here";
    return arms.map((a) => `v${a.version} ${pct(a.weight)}`).join(" · ");
  }

  function canaryText(c) {
    const steps = c.steps ? `, step ${c.step} of ${c.steps}` : "";
    return `v${c.candidate_version} ${c.phase}, ${pct(c.weight)} of traffic${steps}`;
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await r.json();
    } catch (_) {
      body = null;
    }
    if (!r.ok) {
      const msg = body && body.error ? body.error.message : `HTTP ${r.status}`;
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  function changed(section, data) {
    const copy = Object.assign({}, data);
    delete copy.generated_at;
    const text = JSON.stringify(copy);
    if (last[section] === text) return false;
    last[section] = text;
    return true;
  }

  // --- models ------------------------------------------------------------------------------------
  function drawModels(data) {
    if (data.models.length === 0) {
      replace("models", h("p", { class: "empty" },
        "No models yet. Serve a model (", h("code", {}, "serve.models"),
        " in safeheal.toml) and run the controller (", h("code", {}, "safeheal run"),
        "); this page updates by itself."));
      return;
    }
    const head = h("tr", {}, ["Model", "Zone", "Mode", "Serving", "Canary", "Escalations",
      "Last decision"].map((t) => h("th", { scope: "col" }, t)));
    const rows = data.models.map((m) => {
      const pick = h("button", { type: "button", class: "link", "data-model": m.name,
        "aria-current": m.name === selected ? "true" : null }, m.name);
      pick.addEventListener("click", () => select(m.name, true));
      return h("tr", { class: m.name === selected ? "selected" : null, "data-model": m.name },
        h("th", { scope: "row" }, pick),
        h("td", {}, zoneBadge(m.zone)),
        h("td", {}, m.mode || "–"),
        h("td", {}, split(m.split)),
        h("td", {}, m.canary ? canaryText(m.canary) : "none"),
        h("td", {}, m.pending_escalations
          ? h("span", { class: "badge zone-critical" }, `${m.pending_escalations} pending`)
          : "none"),
        h("td", {}, m.last_action ? `${m.last_action}, ${when(m.last_decision_at)}` : "–"));
    });
    replace("models", h("div", { class: "table-wrap" }, h("table", { class: "models" },
      h("caption", { class: "sr" }, "Models, their zone, mode, traffic split and canary"),
      h("thead", {}, head), h("tbody", {}, rows))));
  }

  // --- charts ------------------------------------------------------------------------------------
  // One line chart: series [{key, label, color}], horizontal threshold lines, a point per window.
  // A round step for about four intervals over `span` (1, 2, 2.5 or 5 times a power of ten).
  function niceStep(span) {
    const e = 10 ** Math.floor(Math.log10(span / 4));
    const f = span / 4 / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
  }

  function decimals(step) {
    for (let d = 0; d < 6; d++) {
      const scaled = step * 10 ** d;
      if (Math.abs(Math.round(scaled) - scaled) < 1e-6) return d;
    }
    return 6;
  }

  function chart({ title, windows, series, lines, lo: bottom, hi: top, marks }) {
    const W = 520, H = 210, L = 46, R = 12, T = 14, B = 30;
    const step = niceStep(top - bottom);
    const lo = Math.floor(bottom / step + 1e-9) * step;
    const hi = Math.ceil(top / step - 1e-9) * step;
    const digits = decimals(step);
    const n = windows.length;
    const x = (i) => (n === 1 ? L + (W - L - R) / 2 : L + (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo));
    const latest = series.map((sr) => `${sr.label} ${num(windows[n - 1][sr.key])}`).join(", ");
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart",
      "aria-label": `${title}: ${n} windows; latest ${latest}` });
    svg.append(s("title", {}, `${title}: latest ${latest}`));
    const grid = s("g", { class: "grid" });
    for (let v = lo; v <= hi + step / 2; v += step) {
      grid.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.append(s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(digits)));
    }
    svg.append(grid);
    const axis = s("g", { class: "axis" });
    axis.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }));
    axis.append(s("text", { x: L, y: H - 8, "text-anchor": "start" }, clock(windows[0].at)));
    if (n > 1) {
      axis.append(s("text", { x: W - R, y: H - 8, "text-anchor": "end" },
        clock(windows[n - 1].at)));
    }
    axis.append(s("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle" },
      "window end (UTC)"));
    svg.append(axis);
    for (const m of marks || []) {
      const g = s("g", { class: "mark" });
      g.append(s("line", { x1: x(m.i), x2: x(m.i), y1: T, y2: H - B }));
      g.append(s("title", {}, m.label));
      svg.append(g);
    }
    for (const ln of lines) {
      if (ln.value < lo || ln.value > hi) continue;
      const g = s("g", { class: "threshold" });
      g.append(s("line", { x1: L, x2: W - R, y1: y(ln.value), y2: y(ln.value),
        stroke: ln.color }));
      g.append(s("title", {}, ln.label));
      svg.append(g);
    }
    for (const sr of series) {
      const pts = windows.map((w, i) => `${x(i).toFixed(1)},${y(w[sr.key]).toFixed(1)}`);
      svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: sr.color,
        "stroke-width": 2, class: "series", "data-series": sr.key }));
      const dots = s("g", { class: "points", fill: sr.color, "data-series": sr.key });
      windows.forEach((w, i) => {
        dots.append(s("circle", { cx: x(i).toFixed(1), cy: y(w[sr.key]).toFixed(1), r: 3,
          class: "point", "data-value": w[sr.key] },
        s("title", {}, `${when(w.at)}: ${sr.label} = ${num(w[sr.key])} (${w.zone}, ${w.action})`)));
      });
      svg.append(dots);
    }
    const legend = h("ul", { class: "legend" },
      series.map((sr) => h("li", {}, h("span", { class: "swatch", "data-color": sr.color }),
        `${sr.label} (latest ${num(windows[n - 1][sr.key])})`)),
      lines.map((ln) => h("li", { class: "dashed" }, h("span", { class: "swatch dash",
        "data-color": ln.color }), ln.label)),
      (marks || []).length > 0 && h("li", { class: "dashed" }, h("span", {
        class: "swatch dash", "data-color": "#9ca3af" }),
      "vertical dotted line: an action decided"));
    for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
    return h("figure", { class: "plot" }, h("figcaption", {}, title), svg, legend);
  }

  function charts(detail) {
    const w = detail.windows;
    if (w.length === 0) {
      return h("p", { class: "empty" }, "No windows recorded yet: the controller records the ",
        "state of each window with its decision (", h("code", {}, "safeheal run"), ").");
    }
    const t = detail.thresholds;
    const maxOf = (keys) => Math.max(...w.flatMap((p) => keys.map((k) => p[k])));
    const marks = [];
    w.forEach((p, i) => {
      if (p.action !== "NO_OP") marks.push({ i, label: `${when(p.at)}: ${p.action} (${p.zone})` });
    });
    const sig = Math.min(1, Math.max(0.3, maxOf(["drift", "accuracy_drop", "anomaly_rate"]) * 1.1));
    const minSla = Math.min(...w.map((p) => p.sla_score));
    return h("div", { class: "charts" },
      chart({ title: "Signals: drift d, accuracy drop a, anomaly rate ρ", windows: w, lo: 0,
        hi: sig, marks,
        series: [{ key: "drift", label: "d", color: COLORS.d },
          { key: "accuracy_drop", label: "a", color: COLORS.a },
          { key: "anomaly_rate", label: "ρ", color: COLORS.rho }],
        lines: [{ value: t.drift, label: `critical if d > ${t.drift}`, color: COLORS.d },
          { value: t.accuracy_drop, label: `critical if a > ${t.accuracy_drop}`, color: COLORS.a },
          { value: t.anomaly_rate, label: `critical if ρ > ${t.anomaly_rate}`, color: COLORS.rho }],
      }),
      chart({ title: "SLA score of the window as served", windows: w,
        lo: Math.max(0, Math.min(0.8, Math.floor((minSla - 0.02) * 20) / 20)), hi: 1,
        series: [{ key: "sla_score", label: "SLA", color: COLORS.sla }],
        lines: [{ value: t.sla, label: `SLA threshold ${t.sla}`, color: "#444" }] }),
      chart({ title: "Latency: p95 / SLO", windows: w, lo: 0,
        hi: Math.max(1.5, maxOf(["latency_ratio"]) * 1.1),
        series: [{ key: "latency_ratio", label: "latency ratio", color: COLORS.lat }],
        lines: [{ value: t.latency_ratio, label: `SLO breach above ${t.latency_ratio}`,
          color: "#444" }] }),
      chart({ title: "Error rate", windows: w, lo: 0,
        hi: Math.min(1, Math.max(0.1, maxOf(["error_rate"]) * 1.1)),
        series: [{ key: "error_rate", label: "errors", color: COLORS.err }],
        lines: [{ value: t.error_rate, label: `SLO breach above ${t.error_rate}`,
          color: "#444" }] }));
  }

  // --- one model ---------------------------------------------------------------------------------
  function canaries(list) {
    if (list.length === 0) return h("p", { class: "empty" }, "No canary has run for this model.");
    return h("ul", { class: "canaries" }, list.map((c) => {
      const done = c.steps ? Math.round((100 * c.step) / c.steps) : 0;
      const fill = h("div", { class: `fill phase-${c.phase}` });
      fill.style.width = `${done}%`;
      const bar = h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0,
        "aria-valuemax": c.steps, "aria-valuenow": c.step,
        "aria-label": `canary ${c.canary_id}: step ${c.step} of ${c.steps}` }, fill);
      const weight = h("div", { class: "weight" });
      const wfill = h("div", { class: "fill" });
      wfill.style.width = `${Math.max(0, Math.min(100, c.weight))}%`;
      weight.append(wfill);
      const recent = c.reasons.slice(-3);
      return h("li", { class: "canary", "data-phase": c.phase },
        h("div", { class: "canary-head" },
          h("strong", {}, `v${c.candidate_version}`),
          ` (${c.action}) against v${c.incumbent_version ?? "–"}: `,
          h("span", { class: `badge phase-${c.phase}` }, c.phase),
          ` ${pct(c.weight)} of traffic`,
          c.steps ? `, step ${c.step} of ${c.steps}` : "",
          `, ${c.checks} check(s), ${c.failed_checks} failed`),
        bar,
        h("div", { class: "weight-row" }, h("span", {}, "traffic to the candidate"), weight),
        recent.length ? h("ol", { class: "reasons", start: c.reasons.length - recent.length + 1 },
          recent.map((r) => h("li", {}, r))) : null,
        h("p", { class: "meta" }, `started ${when(c.started_at)}, updated ${when(c.updated_at)}`));
    }));
  }

  function decisions(list) {
    if (list.length === 0) return h("p", { class: "empty" }, "No decisions yet.");
    const head = h("tr", {}, ["Time", "Zone", "Decided", "Chosen by", "Carried out", "Outcome",
      "Why"].map((t) => h("th", { scope: "col" }, t)));
    const rows = list.map((d) => h("tr", { "data-decision": d.id },
      h("td", { class: "nowrap" }, when(d.at)),
      h("td", {}, zoneBadge(d.zone)),
      h("td", {}, h("strong", {}, d.action)),
      h("td", {}, d.source),
      h("td", {}, d.carried_out.length ? d.carried_out.join(", ")
        : d.held_by ? `nothing: ${d.held_by}`
          : "nothing"),
      // a RESTORE is never judged: only the heals beside it wait for an outcome
      h("td", {}, d.outcome
        || (d.carried_out.some((c) => !c.startsWith("RESTORE")) ? "pending" : "–")),
      h("td", { class: "reasons" },
        h("ul", {}, d.reasons.map((r) => h("li", {}, r))),
        h("p", { class: "meta" }, "in full: ", h("code", {}, d.explain)))));
    return h("div", { class: "table-wrap" }, h("table", { class: "decisions" },
      h("caption", { class: "sr" }, "Recent decisions, newest first"),
      h("thead", {}, head), h("tbody", {}, rows)));
  }

  function drawDetail(detail) {
    const m = detail.summary;
    const roles = Object.entries(detail.roles).map(([r, v]) => `${r} v${v}`).join(" · ");
    replace("detail",
      h("div", { class: "detail-head" },
        h("h3", { id: "detail-name" }, m.name), zoneBadge(m.zone),
        h("span", { class: "meta" }, `mode ${m.mode || "–"}`),
        h("span", { class: "meta" }, `serving ${split(m.split)}`),
        roles ? h("span", { class: "meta" }, `roles: ${roles}`) : null),
      charts(detail),
      h("h4", {}, "Canary"),
      canaries(detail.canaries),
      h("h4", {}, `Recent decisions (${detail.decisions.length}, newest first)`),
      decisions(detail.decisions));
  }

  // --- escalations and posteriors ----------------------------------------------------------------
  function drawEscalations(data) {
    const list = data.escalations;
    document.getElementById("escalations-section").classList.toggle("alert", list.length > 0);
    if (list.length === 0) {
      replace("escalations", h("p", { class: "empty" }, "None: no escalation is waiting."));
      return;
    }
    replace("escalations", h("ul", { class: "escalations" }, list.map((e) =>
      h("li", { class: "escalation", "data-escalation": e.id },
        h("div", {}, h("strong", {}, e.model), ` since ${when(e.created_at)}: escalation `,
          h("code", { class: "esc-id" }, e.id)),
        e.reasons.length ? h("ul", {}, e.reasons.map((r) => h("li", {}, r))) : null,
        e.meanwhile ? h("p", {}, `Meanwhile the service is on ${e.meanwhile}.`) : null,
        h("p", {}, "Approve with ", h("code", { class: "cmd" }, e.approve),
          " (or reject with ", h("code", {}, `${e.approve} --reject`),
          "), or ", h("code", {}, `POST /v1/admin/escalations/${e.id}/approve`),
          " with the admin token."),
      ))));
  }

  function drawPosteriors(data) {
    if (data.contexts.length === 0) {
      replace("posteriors", h("p", { class: "empty" },
        "No outcomes yet: a posterior appears once a heal's outcome is recorded."));
      return;
    }
    replace("posteriors", h("div", { class: "contexts" }, data.contexts.map((c) =>
      h("div", { class: "context" }, h("h3", {}, c.context),
        h("ul", { class: "bars" }, c.actions.map((p) => {
          const band = h("div", { class: "band" });
          band.style.left = `${p.low * 100}%`;
          band.style.width = `${Math.max(0.5, (p.high - p.low) * 100)}%`;
          const mean = h("div", { class: "mean" });
          mean.style.left = `${p.mean * 100}%`;
          const label = `${p.action}: mean ${num(p.mean, 2)}, 95% interval ` +
            `${num(p.low, 2)}–${num(p.high, 2)} (α ${num(p.alpha, 1)}, β ${num(p.beta, 1)})`;
          return h("li", { class: "posterior", "data-action": p.action },
            h("span", { class: "action" }, p.action),
            h("div", { class: "track post-bar", role: "img", "aria-label": label }, band, mean),
            h("span", { class: "numbers" },
              `${num(p.mean, 2)} [${num(p.low, 2)}, ${num(p.high, 2)}]`,
              h("span", { class: "counts" }, ` α ${num(p.alpha, 1)} β ${num(p.beta, 1)}`)));
        }))))));
  }

  // --- polling -----------------------------------------------------------------------------------
  function select(name, focus) {
    selected = name;
    history.replaceState(null, "", `#model=${encodeURIComponent(name)}`);
    delete last.detail;
    delete last.models;
    refresh().then(() => {
      if (focus) document.getElementById("detail").focus();
    });
  }

  function fromHash() {
    const m = /^#model=(.*)$/.exec(location.hash);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch (_) {
      return null;
    }
  }

  async function refresh() {
    const status = document.getElementById("status");
    const main = document.querySelector("main");
    main.setAttribute("aria-busy", "true");  // the page is being redrawn (screen readers wait)
    try {
      const [models, escalations, posteriors] = await Promise.all([
        getJSON("/ui/api/models"), getJSON("/ui/api/escalations"), getJSON("/ui/api/posteriors"),
      ]);
      const names = models.models.map((m) => m.name);
      if (selected === null || !names.includes(selected)) {
        const wanted = fromHash();
        selected = names.includes(wanted) ? wanted : (names[0] ?? null);
      }
      if (changed("models", models)) drawModels(models);
      if (changed("escalations", escalations)) drawEscalations(escalations);
      if (changed("posteriors", posteriors)) drawPosteriors(posteriors);
      if (selected === null) {
        if (changed("detail", { none: true })) {
          replace("detail", h("p", { class: "empty" }, "No model to show yet."));
        }
      } else {
        const detail = await getJSON(`/ui/api/models/${encodeURIComponent(selected)}`);
        if (changed("detail", detail)) drawDetail(detail);
      }
      status.classList.remove("error");
      status.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC` +
        (paused ? " · paused" : ` · every ${POLL_MS / 1000} s`);
    } catch (err) {
      status.classList.add("error");
      status.textContent = `Cannot read the gateway (${err.message}); retrying every ` +
        `${POLL_MS / 1000} s.`;
    } finally {
      main.setAttribute("aria-busy", "false");
    }
  }

  function loop() {
    clearTimeout(timer);
    if (paused) return;
    if (document.hidden) {  // nobody looks: ask again when the page is shown
      timer = setTimeout(loop, POLL_MS);
      return;
    }
    refresh().finally(() => {
      if (!paused) timer = setTimeout(loop, POLL_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    selected = fromHash();
    const pause = document.getElementById("pause");
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume updates" : "Pause updates";
      if (paused) {
        clearTimeout(timer);
        const status = document.getElementById("status");
        status.textContent = status.textContent.replace(/ · every .*$/, " · paused");
      } else {
        loop();
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !paused) loop();
    });
    window.addEventListener("hashchange", () => {
      const wanted = fromHash();
      if (wanted !== null && wanted !== selected) select(wanted, false);
    });
    loop();
  });
})();
