// The transfer explorer: draws report.html's inlined numbers (vtl/analysis/explorer.py) as SVG. No libraries.
(() => {
  "use strict";
  const started = performance.now();
  const D = JSON.parse(document.getElementById("vtl-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { block: 0, mode: "pgf", diagonal: true, focus: null, source: null, target: null };

  // ---- small helpers ---------------------------------------------------------------------------------------------
  function node(ns, tag, attrs, parent, text) {
    const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  const svg = (tag, attrs, parent, text) => node(SVG, tag, attrs, parent, text);
  const html = (tag, attrs, parent, text) => node(null, tag, attrs, parent, text);
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const signed = (v, d = 3) => (isNum(v) ? (v >= 0 ? "+" : "") + v.toFixed(d) : "–");
  const plain = (v, d = 3) => (isNum(v) ? v.toFixed(d) : "–");
  const pval = (p) => (isNum(p) ? (p < 0.001 ? p.toExponential(1) : p.toFixed(3)) : "–");
  const block = () => D.blocks[state.block];
  const short = (b, t) => (b.abbrev && b.abbrev[t]) || t;

  function colour(v, scale) {
    if (!isNum(v)) return "#f3f4f6";
    const t = Math.min(1, Math.abs(v) / scale);
    const to = v >= 0 ? [33, 102, 172] : [178, 24, 43];
    const from = [247, 247, 247];
    const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // ---- tooltip ---------------------------------------------------------------------------------------------------
  const tip = $("tooltip");
  function showTip(evt, lines) {
    tip.replaceChildren();
    for (const line of lines) {
      const div = html("div", line.cls ? { class: line.cls } : {}, tip);
      if (line.b) html("b", {}, div, line.b);
      if (line.t) div.appendChild(document.createTextNode(line.t));
    }
    tip.hidden = false;
    const x = Math.min(evt.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(evt.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = `${Math.max(4, x)}px`;
    tip.style.top = `${Math.max(4, y)}px`;
  }
  const hideTip = () => { tip.hidden = true; };

  // ---- provenance header -----------------------------------------------------------------------------------------
  function renderProvenance() {
    const p = D.provenance || {};
    const root = $("provenance");
    const o = p.options || {};
    html("div", {}, root, `vtl ${p.vtl_version} · written ${p.created} · epoch: ${o.epoch} · confidence ` +
      `${o.confidence} · diagonal in scores: ${o.include_diagonal ? "yes" : "no"}`);
    const dl = html("dl", {}, root);
    const row = (k, v, cls) => { html("dt", {}, dl, k); html("dd", cls ? { class: cls } : {}, dl, v); };
    row("inputs", (p.inputs || []).join(" "));
    for (const [label, info] of Object.entries(p.labels || {})) {
      const targets = Object.entries(info.eval_rows || {});
      const known = targets.filter(([, d]) => d.length);
      const differing = known.filter(([, d]) => d.length > 1).map(([t]) => t);
      const hashes = info.config_hashes || [];
      const parts = [`${info.runs} run(s)`, `seeds ${info.seeds.join(", ")}`,
        `vtl ${info.vtl_versions.length ? info.vtl_versions.join(", ") : "not recorded"}`,
        `config ${hashes.length ? hashes.join(", ") : "not recorded"}`,
        known.length ? `eval data: ${known.length} target(s) fingerprinted` : "eval data: not recorded",
        info.finished.length ? `finished ${info.finished[0]} … ${info.finished[1]}` : ""];
      const warn = hashes.length > 1 || differing.length > 0;
      row(label, parts.filter(Boolean).join(" · ") +
        (hashes.length > 1 ? " · WARNING: the runs were made with different configs" : "") +
        (differing.length ? ` · WARNING: different eval rows for ${differing.join(", ")}` : ""), warn ? "warn" : "");
    }
  }

  // ---- controls --------------------------------------------------------------------------------------------------
  function renderControls() {
    const select = $("block-select");
    D.blocks.forEach((b, i) => html("option", { value: String(i) }, select,
      `${b.id}${b.family ? ` · ${b.family}` : ""} (${b.seeds.length} seed(s))`));
    select.addEventListener("change", () => { state.block = Number(select.value); state.focus = null; renderBlock(); });
    $("mode-select").addEventListener("change", (e) => { state.mode = e.target.value; renderHeatmap(); });
    $("diagonal-toggle").addEventListener("change", (e) => { state.diagonal = e.target.checked; renderHeatmap(); });
  }

  // ---- heatmap ---------------------------------------------------------------------------------------------------
  function values(b) {
    return state.mode === "dacc" ? b.dacc : b.mu;
  }

  function cellLines(b, i, j) {
    const s = b.sources[i], t = b.targets[j];
    const lines = [{ b: `${s} → ${t}` }];
    const n = b.n[i][j];
    lines.push({ t: `μ = ${signed(b.mu[i][j], 4)}  (mean over n = ${isNum(n) ? n : 0} seed(s))` });
    lines.push({ t: `spread over seeds: sd ${plain(b.std[i][j])}, min ${signed(b.lo[i][j])}, max ${signed(b.hi[i][j])}` });
    if (isNum(b.acc[i][j])) {
      const metric = (b.metric && b.metric[t]) || "accuracy";
      lines.push({ t: `${metric}: fine-tuned ${plain(b.acc[i][j])}, zero-shot ${plain(b.zs[i][j])}, ` +
        `change ${signed(b.dacc[i][j])}` });
    } else {
      lines.push({ t: "accuracies: not in the input (the released CSVs hold PGF only)" });
    }
    if (b.ci_lo && isNum(b.ci_lo[i][j])) {
      lines.push({ t: `bootstrap interval (seeds and questions): [${signed(b.ci_lo[i][j])}, ${signed(b.ci_hi[i][j])}] ` +
        `at confidence ${D.provenance.options.confidence}` });
    }
    const sig = b.sig[i][j];
    lines.push({
      t: `${b.test}: ${b.ci_lo ? "adjusted p" : "p"} = ${pval(b.p[i][j])} → ${sig === null ? "not testable" : sig ? "significant" : "not significant"}`,
      cls: sig ? "sig" : sig === false ? "nsig" : "",
    });
    const edge = (b.edges || []).find((e) => (e.a === s && e.b === t) || (e.a === t && e.b === s));
    if (edge) {
      lines.push({
        t: `edge ${short(b, edge.a)}–${short(b, edge.b)}: ${edge.sign}, weight ${signed(edge.weight)}, p = ${pval(edge.p)}` +
          ` (both directions) → ${edge.significant === null ? "not testable" : edge.significant ? "significant" : "not significant"}`,
        cls: edge.significant ? "sig" : "nsig",
      });
    }
    return lines;
  }

  function renderHeatmap() {
    const b = block();
    const root = $("heatmap");
    root.replaceChildren();
    const vals = values(b);
    const hasAcc = b.acc.some((r) => r.some(isNum));
    $("mode-select").querySelector('option[value="dacc"]').disabled = !hasAcc;
    if (state.mode === "dacc" && !hasAcc) {
      html("p", { class: "warn" }, root, "No accuracies in this input (released CSVs hold PGF only); showing PGF.");
    }
    const shown = state.mode === "dacc" && hasAcc ? vals : b.mu;
    const cell = 34, left = 44, top = 28;
    const w = left + cell * b.targets.length + 70, hgt = top + cell * b.sources.length + 8;
    const root_svg = svg("svg", { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, id: "heatmap-svg",
      "data-block": b.id, "data-mode": state.mode === "dacc" && hasAcc ? "dacc" : "pgf" }, root);
    let scale = 1e-9;
    b.sources.forEach((s, i) => b.targets.forEach((t, j) => {
      const v = shown[i][j];
      if (isNum(v) && (state.diagonal || s !== t)) scale = Math.max(scale, Math.abs(v));
    }));
    const fi = state.focus;
    b.targets.forEach((t, j) => {
      const lab = svg("text", { x: left + cell * j + cell / 2, y: top - 8, "text-anchor": "middle",
        class: `axis-label${t === fi ? " hl" : ""}`, "data-task": t }, root_svg, short(b, t));
      svg("title", {}, lab, t);
      lab.addEventListener("click", () => setFocus(t));
    });
    b.sources.forEach((s, i) => {
      const lab = svg("text", { x: left - 6, y: top + cell * i + cell / 2 + 4, "text-anchor": "end",
        class: `axis-label${s === fi ? " hl" : ""}`, "data-task": s }, root_svg, short(b, s));
      svg("title", {}, lab, s);
      lab.addEventListener("click", () => setFocus(s));
      b.targets.forEach((t, j) => {
        const v = shown[i][j];
        const off = !state.diagonal && s === t;
        const inFocus = fi && (s === fi || t === fi);
        const cls = ["cell", off ? "diag-off" : "", inFocus ? "hl" : "", fi && !inFocus ? "dim" : ""].join(" ").trim();
        const r = svg("rect", {
          x: left + cell * j, y: top + cell * i, width: cell, height: cell, fill: colour(v, scale), class: cls,
          "data-source": s, "data-target": t, "data-mu": isNum(b.mu[i][j]) ? String(b.mu[i][j]) : "",
          "data-value": isNum(v) ? String(v) : "", "data-n": String(b.n[i][j] || 0),
          "data-significant": String(b.sig[i][j]),
        }, root_svg);
        r.addEventListener("mousemove", (e) => showTip(e, cellLines(b, i, j)));
        r.addEventListener("mouseleave", hideTip);
        r.addEventListener("click", () => setPair(s, t));
        if (!off && isNum(v)) {
          const strong = Math.abs(v) / scale > 0.6;
          svg("text", { x: left + cell * j + cell / 2, y: top + cell * i + cell / 2 + 3, "text-anchor": "middle",
            class: `cell-value${strong ? " light" : ""}` }, root_svg, v.toFixed(2).replace("-0.00", "0.00"));
          if (b.sig[i][j]) svg("circle", { cx: left + cell * (j + 1) - 5, cy: top + cell * i + 5, r: 2,
            class: "sig-dot" }, root_svg);
        }
      });
    });
    // colour legend
    const lx = left + cell * b.targets.length + 14, ly = top, lh = cell * Math.min(b.sources.length, 6);
    for (let k = 0; k <= 20; k++) {
      const v = scale * (1 - k / 10);
      svg("rect", { x: lx, y: ly + (lh * k) / 21, width: 12, height: lh / 21 + 0.5, fill: colour(v, scale) }, root_svg);
    }
    svg("text", { x: lx + 16, y: ly + 8, class: "legend" }, root_svg, signed(scale, 2));
    svg("text", { x: lx + 16, y: ly + lh / 2 + 4, class: "legend" }, root_svg, "0");
    svg("text", { x: lx + 16, y: ly + lh, class: "legend" }, root_svg, signed(-scale, 2));
  }

  // ---- graph -----------------------------------------------------------------------------------------------------
  function renderGraph() {
    const b = block();
    const root = $("graph");
    root.replaceChildren();
    $("graph-info").replaceChildren();
    $("graph-section").hidden = b.kind !== "image";
    if (b.kind !== "image") return;
    const tasks = b.sources.filter((t) => b.targets.includes(t));
    const size = 360, cx = size / 2, cy = size / 2, rad = size / 2 - 34;
    const pos = {};
    tasks.forEach((t, k) => {
      const a = -Math.PI / 2 + (2 * Math.PI * k) / tasks.length;
      pos[t] = [cx + rad * Math.cos(a), cy + rad * Math.sin(a)];
    });
    const g = svg("svg", { width: size, height: size, viewBox: `0 0 ${size} ${size}`, id: "graph-svg",
      "data-block": b.id }, root);
    const maxw = Math.max(1e-9, ...b.edges.map((e) => Math.abs(e.weight)));
    const largest = b.largest || { positive: [], negative: [] };
    const onlySig = $("significant-only").checked;
    const edgeEls = b.edges.filter((e) => !onlySig || e.significant).map((e) => {
      const [x1, y1] = pos[e.a], [x2, y2] = pos[e.b];
      const inClique = largest[e.sign].includes(e.a) && largest[e.sign].includes(e.b);
      const flag = e.significant === null ? "untested" : e.significant ? "significant" : "not-significant";
      const line = svg("line", { x1, y1, x2, y2, class: `edge ${e.sign} ${flag}${inClique ? " in-clique" : ""}`,
        "stroke-width": (inClique ? 2 : 1) + (4 * Math.abs(e.weight)) / maxw, "data-a": e.a, "data-b": e.b,
        "data-sign": e.sign, "data-significant": String(e.significant) }, g);
      line.addEventListener("mousemove", (evt) => showTip(evt, [{ b: `${e.a} – ${e.b}` },
        { t: `${e.sign} edge, weight ${signed(e.weight)} (mean of both directions)` },
        { t: `${b.test}, both directions: p = ${pval(e.p)} → ${flag.replace("-", " ")}`, cls: e.significant ? "sig" : "nsig" }]));
      line.addEventListener("mouseleave", hideTip);
      return line;
    });
    for (const t of tasks) {
      const [x, y] = pos[t];
      const cls = ["node", largest.positive.includes(t) ? "in-positive" : "", largest.negative.includes(t) ? "in-negative" : "",
        state.focus === t ? "focus" : ""].join(" ").trim();
      const c = svg("circle", { cx: x, cy: y, r: 15, class: cls, "data-task": t }, g);
      svg("text", { x, y: y + 4, "text-anchor": "middle", "pointer-events": "none" }, g, short(b, t));
      c.addEventListener("mouseenter", () => {
        edgeEls.forEach((l) => l.classList.toggle("dim", l.dataset.a !== t && l.dataset.b !== t));
        describeNode(b, t);
      });
      c.addEventListener("mouseleave", () => edgeEls.forEach((l) => l.classList.remove("dim")));
      c.addEventListener("click", () => setFocus(t));
    }
    const info = $("graph-info");
    const cl = (s) => (largest[s].length ? largest[s].map((t) => short(b, t)).join(", ") : "none");
    html("div", { class: "legend" }, info, `largest positive clique: ${cl("positive")} · largest negative clique: ` +
      `${cl("negative")} · solid blue: positive, dashed red: negative, faint: not significant`);
  }

  function describeNode(b, t) {
    const info = $("graph-info");
    info.replaceChildren();
    const mine = b.edges.filter((e) => e.a === t || e.b === t);
    const other = (e) => (e.a === t ? e.b : e.a);
    html("b", {}, info, t);
    for (const sign of ["positive", "negative"]) {
      const es = mine.filter((e) => e.sign === sign);
      html("div", {}, info, `${sign} edges: ` + (es.length ? es.map((e) => `${short(b, other(e))} ${signed(e.weight, 2)}` +
        `${e.significant ? "*" : ""}`).join(", ") : "none"));
    }
  }

  function setFocus(task) {
    state.focus = state.focus === task ? null : task;
    $("focus-info").textContent = state.focus ? `highlighted: ${state.focus} (click again to clear)` : "";
    renderHeatmap();
    renderGraph();
    renderScores();
  }

  // ---- scores and personas ---------------------------------------------------------------------------------------
  function bar(v, scale) {
    const d = html("div", { class: "bar", title: signed(v) });
    if (isNum(v) && v !== 0) {
      html("span", { class: v > 0 ? "pos" : "neg", style: `width:${(50 * Math.min(1, Math.abs(v) / scale)).toFixed(1)}%` }, d);
    }
    return d;
  }

  function renderScores() {
    const b = block();
    const root = $("scores");
    root.replaceChildren();
    const T = b.transferability || {}, M = b.malleability || {};
    const all = [...Object.values(T), ...Object.values(M)].flatMap((r) => [Math.abs(r.pos || 0), Math.abs(r.neg || 0)]);
    const scale = Math.max(1e-9, ...all);
    const table = html("table", { id: "scores-table" }, root);
    const head = html("tr", {}, table);
    for (const h of ["task", "Δ⁺ transferability", "Δ⁻", "Θ⁺ malleability", "Θ⁻"]) html("th", {}, head, h);
    const tasks = [...new Set([...b.sources, ...b.targets])];
    for (const t of tasks) {
      const tr = html("tr", { "data-task": t, class: state.focus === t ? "focus" : "" }, table);
      html("td", { title: t }, tr, short(b, t));
      for (const [src, key] of [[T, "pos"], [T, "neg"], [M, "pos"], [M, "neg"]]) {
        const v = src[t] ? src[t][key] : null;
        const td = html("td", {}, tr);
        if (src[t]) { td.appendChild(bar(v, scale)); td.appendChild(document.createTextNode(` ${signed(v, 2)}`)); }
      }
    }
    const proot = $("personas");
    proot.replaceChildren();
    const pt = html("table", { id: "persona-table" }, proot);
    const ph = html("tr", {}, pt);
    for (const h of ["persona", "tasks (p-value across seeds)"]) html("th", {}, ph, h);
    const meaning = { donor: "gives most", pirate: "hurts most", sponge: "takes most", sieve: "is hurt most" };
    for (const [persona, tasks] of Object.entries(b.personas || {})) {
      const tr = html("tr", { "data-persona": persona }, pt);
      html("td", {}, tr, `${persona} (${meaning[persona] || ""})`);
      const ps = (b.persona_p || {})[persona] || {};
      html("td", {}, tr, tasks.length ? tasks.map((t) => `${t}${t in ps ? ` (p ${pval(ps[t])})` : ""}`).join(", ") : "–");
    }
  }

  // ---- curves ----------------------------------------------------------------------------------------------------
  let picked = false;
  function setPair(s, t) {
    state.source = s;
    state.target = t;
    renderCurveControls();
    renderCurve();
  }

  function renderCurveControls() {
    const b = block();
    const per = (D.curves || {})[b.label] || {};
    const src = $("curve-source"), tgt = $("curve-target");
    const sources = Object.keys(per).filter((s) => b.sources.includes(s));
    if (!sources.includes(state.source)) state.source = sources[0] || null;
    const targets = state.source ? Object.keys(per[state.source]).filter((t) => b.targets.includes(t)) : [];
    if (!targets.includes(state.target)) state.target = targets.find((t) => t !== state.source) || targets[0] || null;
    if (!picked) {  // open on the block's strongest off-diagonal transfer
      picked = true;
      let best = -1;
      b.sources.forEach((s, i) => b.targets.forEach((t, j) => {
        const v = Math.abs(b.mu[i][j]);
        if (s !== t && isNum(v) && v > best && per[s] && per[s][t]) { best = v; state.source = s; state.target = t; }
      }));
      return renderCurveControls();
    }
    src.replaceChildren(...sources.map((s) => node(null, "option", { value: s }, null, s)));
    tgt.replaceChildren(...targets.map((t) => node(null, "option", { value: t }, null, t)));
    if (state.source) src.value = state.source;
    if (state.target) tgt.value = state.target;
  }

  function renderCurve() {
    const b = block();
    const root = $("curves");
    root.replaceChildren();
    const c = (((D.curves || {})[b.label] || {})[state.source] || {})[state.target];
    if (!c) {
      html("p", { class: "legend" }, root, "No per-epoch records for this block (released CSVs hold the final epoch only).");
      return;
    }
    const w = 560, h = 260, l = 52, r = 110, t = 12, btm = 34;
    const series = Object.entries(c.seeds);
    const ys = [0, ...c.mean, ...series.flatMap(([, v]) => v)].filter(isNum);
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const e0 = Math.min(...c.epochs), e1 = Math.max(...c.epochs);
    const X = (e) => l + ((w - l - r) * (e - e0)) / Math.max(1e-9, e1 - e0);
    const Y = (v) => t + ((h - t - btm) * (hi - v)) / (hi - lo);
    const g = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, id: "curve-svg",
      "data-source": state.source, "data-target": state.target }, root);
    svg("line", { x1: l, x2: w - r, y1: Y(0), y2: Y(0), stroke: "#9ca3af", "stroke-dasharray": "3 3" }, g);
    svg("line", { x1: l, x2: l, y1: t, y2: h - btm, stroke: "#374151" }, g);
    svg("line", { x1: l, x2: w - r, y1: h - btm, y2: h - btm, stroke: "#374151" }, g);
    for (let k = 0; k <= 4; k++) {
      const v = lo + ((hi - lo) * k) / 4;
      svg("text", { x: l - 6, y: Y(v) + 4, "text-anchor": "end" }, g, v.toFixed(hi - lo < 0.2 ? 3 : 2));
    }
    const ticks = c.epochs.length <= 14 ? c.epochs : c.epochs.filter((_, k) => k % Math.ceil(c.epochs.length / 12) === 0);
    for (const e of ticks) svg("text", { x: X(e), y: h - btm + 14, "text-anchor": "middle" }, g, String(e));
    svg("text", { x: (l + w - r) / 2, y: h - 4, "text-anchor": "middle" }, g, "epoch");
    svg("text", { x: 12, y: t + (h - t - btm) / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${t + (h - t - btm) / 2})` }, g, "PGF");
    const path = (vals) => vals.map((v, k) => (isNum(v) ? `${X(c.epochs[k]).toFixed(1)},${Y(v).toFixed(1)}` : null))
      .filter(Boolean).join(" ");
    const hues = ["#60a5fa", "#f59e0b", "#34d399", "#f472b6", "#a78bfa", "#94a3b8"];
    series.forEach(([seed, vals], k) => {
      svg("polyline", { points: path(vals), fill: "none", stroke: hues[k % hues.length], "stroke-width": 1.2,
        class: "seed-line", "data-seed": seed }, g);
      svg("text", { x: w - r + 8, y: t + 14 * (k + 2), fill: hues[k % hues.length] }, g, `seed ${seed}`);
    });
    svg("polyline", { points: path(c.mean), fill: "none", stroke: "#111827", "stroke-width": 2.5, class: "mean-line" }, g);
    svg("text", { x: w - r + 8, y: t + 14 }, g, `mean (${series.length})`);
    c.mean.forEach((v, k) => {
      if (!isNum(v)) return;
      const dot = svg("circle", { cx: X(c.epochs[k]), cy: Y(v), r: 3.5, fill: "#111827" }, g);
      dot.addEventListener("mousemove", (evt) => showTip(evt, [{ b: `${state.source} → ${state.target}, epoch ${c.epochs[k]}` },
        { t: `mean PGF ${signed(v, 4)}` },
        ...series.map(([seed, vals]) => ({ t: `seed ${seed}: ${signed(vals[k], 4)}` }))]));
      dot.addEventListener("mouseleave", hideTip);
    });
  }

  // ---- scale trend and planted world -----------------------------------------------------------------------------
  function renderTrend() {
    const root = $("trend");
    const families = Object.entries(D.trend || {});
    if (!families.length) {
      html("p", { class: "legend" }, root, "One scale per family: no trend to show.");
      return;
    }
    const names = { mean_positive_transferability: "mean Δ⁺", mean_negative_transferability: "mean Δ⁻",
      mean_positive_malleability: "mean Θ⁺", mean_negative_malleability: "mean Θ⁻",
      largest_positive_clique_size: "largest + clique", largest_negative_clique_size: "largest − clique" };
    for (const [family, info] of families) {
      html("h3", {}, root, family);
      const table = html("table", { class: "trend-table", "data-family": family }, root);
      const cols = Object.keys(names);
      const head = html("tr", {}, table);
      html("th", {}, head, "scale");
      cols.forEach((c) => html("th", {}, head, names[c]));
      for (const [label, row] of Object.entries(info.rows)) {
        const tr = html("tr", {}, table);
        html("td", {}, tr, label);
        cols.forEach((c) => html("td", { class: "num" }, tr, c.endsWith("size") ? String(row[c]) : signed(row[c])));
      }
      const test = info.test || {};
      if (test.scores) {
        html("p", { class: "legend" }, root, `${test.test}: ${test.larger} vs ${test.smaller}, alternative: ` +
          `${test.alternative}`);
        const tt = html("table", { class: "trend-test" }, root);
        const th = html("tr", {}, tt);
        for (const h of ["score", test.smaller, test.larger, "seeds", "p"]) html("th", {}, th, h);
        for (const [score, s] of Object.entries(test.scores)) {
          const tr = html("tr", {}, tt);
          html("td", {}, tr, names[score] || score);
          html("td", { class: "num" }, tr, signed(s.smaller_scale_mean));
          html("td", { class: "num" }, tr, signed(s.larger_scale_mean));
          html("td", { class: "num" }, tr, s.n_seeds.join(" / "));
          html("td", { class: "num" }, tr, pval(s.p_value));
        }
      }
    }
  }

  function renderPlanted() {
    const p = D.planted;
    if (!p) return;
    $("planted-section").hidden = false;
    const root = $("planted");
    const table = html("table", { id: "planted-table" }, root);
    const head = html("tr", {}, table);
    for (const h of ["claim", "planted", "recovered", "details"]) html("th", {}, head, h);
    const row = (claim, planted, found, details, ok) => {
      const tr = html("tr", {}, table);
      html("td", {}, tr, claim);
      html("td", {}, tr, planted);
      html("td", ok === undefined ? {} : { class: ok ? "ok" : "warn" }, tr, found);
      html("td", {}, tr, details);
    };
    const c = p.largest_positive_clique;
    if (c) row("largest positive clique", c.planted.join(", "), c.recovered.join(", ") || "none",
      c.matches ? "matches" : `${c.agree} of ${c.planted.length} agree`, c.matches);
    for (const sign of ["positive", "negative"]) {
      const e = p[`${sign}_edges`];
      if (!e) continue;
      row(`${sign} edges`, String(e.planted), `${e.recovered} (${e.significant} significant)`,
        [isNum(e.precision) || isNum(e.recall) ? `significant: precision ${plain(e.precision, 2)}, recall ` +
          `${plain(e.recall, 2)}${(e.significant_extra || []).length ? `; significant but not planted: ` +
          e.significant_extra.map((x) => x.join("–")).join(", ") : ""}` : "",
          e.extra ? `${e.extra} unplanted: ${e.extra_edges.map((x) => x.join("–")).join(", ")}` : "no unplanted edge",
          e.missed.length ? `missed: ${e.missed.map((x) => x.join("–")).join(", ")}` : ""].filter(Boolean).join("; "),
        e.recovered === e.planted);
    }
    for (const persona of ["donors", "sponges"]) {
      const q = p[persona];
      if (q) row(persona, (p.planted_in_groups || []).join(", "), q.recovered.join(", ") || "none",
        `${q.agree} of ${q.recovered.length} in a planted group`, q.agree === q.recovered.length);
    }
    const d = p.diagonal_pgf;
    if (d && d.per_seed) {
      row("every task learns (diagonal PGF)", `≥ ${d.goal} in every seed`, `min ${plain(d.min, 2)}, median ` +
        `${plain(d.median, 2)}`, (d.below_goal || []).length ? `below: ${d.below_goal.join(", ")}` : "all reach it",
        !(d.below_goal || []).length);
    }
  }

  function renderNotes() {
    const notes = D.notes || [];
    if (!notes.length) return;
    $("notes-section").hidden = false;
    for (const n of notes) html("li", {}, $("notes"), n);
  }

  function renderBlock() {
    $("focus-info").textContent = "";
    renderHeatmap();
    renderGraph();
    renderScores();
    renderCurveControls();
    renderCurve();
  }

  $("significant-only").addEventListener("change", renderGraph);
  $("curve-source").addEventListener("change", (e) => { state.source = e.target.value; renderCurveControls(); renderCurve(); });
  $("curve-target").addEventListener("change", (e) => { state.target = e.target.value; renderCurve(); });
  renderProvenance();
  renderControls();
  if (D.blocks.length) renderBlock();
  else html("p", { class: "warn" }, $("heatmap"), "No transfer matrix in this analysis.");
  renderTrend();
  renderPlanted();
  renderNotes();
  document.body.dataset.ready = "1";
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
})();
