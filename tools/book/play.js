// The book's live widgets (./workbook play). A page served by the play server carries
// <meta name="unbreakable-play" content="live">; on any other page (the book opened as
// files, or served by anything else) this script does nothing and each widget keeps its
// one line saying how to start the server, under the chapter's executed output.
//
// Each widget: ordinary HTML inputs built from GET /api/scenarios (type, unit, range,
// default), and on every change a POST /api/run/{id} whose chart (SVG), numbers and CSV
// replace the previous ones. Only the latest request's answer is drawn.
"use strict";
(function () {
  const live = document.querySelector('meta[name="unbreakable-play"][content="live"]');
  const boxes = Array.from(document.querySelectorAll(".play-widget[data-scenario]"));
  if (!live || boxes.length === 0) return;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "—";
    if (unit === "yes/no") return v ? "yes" : "no";
    if (Number.isInteger(v)) return v.toLocaleString("en-GB");
    return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
  }

  function control(p) {
    const id = "play-" + Math.random().toString(36).slice(2);
    const row = el("div", { class: "play-control" });
    const label = el("label", { for: id }, p.label + (p.unit && p.unit !== "share" ? " (" + p.unit + ")" : ""));
    row.appendChild(label);
    let input, read, shown;
    if (p.type === "integer" || p.type === "number") {
      input = el("input", { id, type: "range", min: p.min, max: p.max, step: p.step, value: p.default, "data-param": p.name });
      shown = el("output", { for: id }, String(p.default));
      read = () => Number(input.value);
      input.addEventListener("input", () => { shown.textContent = input.value; });
    } else if (p.type === "boolean") {
      input = el("input", { id, type: "checkbox", "data-param": p.name });
      input.checked = !!p.default;
      read = () => input.checked;
    } else {
      input = el("select", { id, "data-param": p.name });
      for (const o of p.options) {
        const opt = el("option", { value: o }, o);
        if (o === p.default) opt.selected = true;
        input.appendChild(opt);
      }
      read = () => input.value;
    }
    row.appendChild(input);
    if (shown) row.appendChild(shown);
    return { row, input, name: p.name, read };
  }

  function build(box, spec) {
    box.textContent = "";
    box.appendChild(el("p", { class: "play-title" }, "Try it live: " + spec.title));
    const form = el("form", { class: "play-controls" });
    form.addEventListener("submit", (e) => e.preventDefault());
    const controls = spec.params.map(control);
    for (const c of controls) form.appendChild(c.row);
    const seedRow = el("div", { class: "play-control" });
    const seedId = "play-seed-" + spec.id;
    seedRow.appendChild(el("label", { for: seedId }, "random seed"));
    const seed = el("input", { id: seedId, type: "number", min: 0, max: 4294967295, step: 1, value: spec.default_seed, "data-param": "seed" });
    seedRow.appendChild(seed);
    form.appendChild(seedRow);
    box.appendChild(form);
    const status = el("p", { class: "play-status" }, "running…");
    const chart = el("div", { class: "play-chart" });
    const numbers = el("table", { class: "play-numbers" });
    const csv = el("a", { class: "play-csv", download: spec.id + ".csv" }, "this run's data as CSV");
    box.append(status, chart, numbers, csv);

    let seq = 0;
    let timer = null;
    async function run() {
      const mine = ++seq;
      const params = {};
      for (const c of controls) params[c.name] = c.read();
      const body = { seed: Number(seed.value), params };
      box.dataset.state = "running";
      let answer, ok;
      try {
        const r = await fetch("/api/run/" + spec.id, {
          method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
        });
        ok = r.ok;
        answer = await r.json();
      } catch (e) {
        ok = false;
        answer = { field: "network", message: String(e) };
      }
      if (mine !== seq) return; // a newer request is on its way
      if (!ok) {
        status.textContent = "not run: " + answer.field + " " + answer.message;
        status.className = "play-status play-error";
      } else {
        chart.innerHTML = answer.svg;
        numbers.textContent = "";
        for (const x of answer.numbers) {
          const tr = el("tr");
          const unit = x.unit && x.unit !== "share" && x.unit !== "yes/no" ? " " + x.unit : "";
          tr.append(el("th", {}, x.name), el("td", {}, fmt(x.value, x.unit) + unit));
          numbers.appendChild(tr);
        }
        csv.href = "data:text/csv;charset=utf-8," + encodeURIComponent(answer.csv);
        status.className = "play-status";
        status.textContent = answer.fallback
          ? "showing the default run instead: " + answer.fallback
          : "ran in " + answer.elapsed_ms.toFixed(1) + " ms on the server (seed " + answer.seed + ")";
      }
      box.dataset.sent = JSON.stringify(body);
      box.dataset.state = ok ? "ready" : "refused";
      box.dataset.runs = String(mine);
    }
    function soon() {
      clearTimeout(timer);
      timer = setTimeout(run, 40);
    }
    for (const c of controls) {
      c.input.addEventListener("input", soon);
      c.input.addEventListener("change", soon);
    }
    seed.addEventListener("change", soon);
    run();
  }

  fetch("/api/scenarios")
    .then((r) => r.json())
    .then((list) => {
      const byId = new Map(list.scenarios.map((s) => [s.id, s]));
      for (const box of boxes) {
        const spec = byId.get(box.dataset.scenario);
        if (spec) build(box, spec);
      }
    });
})();
