// The console's behaviour: the live debugger's stream, its filters and pause, and the charts.
// Loaded from the console's own origin (its Content-Security-Policy allows no inline script).
"use strict";

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function startDebugger() {
  const rows = document.getElementById("debugger-rows");
  if (!rows) return;
  const status = document.getElementById("debugger-status");
  const filters = document.getElementById("debugger-filters");
  const pause = document.getElementById("pause");
  const skipped = document.getElementById("skipped");
  const skippedCount = document.getElementById("skipped-count");
  const detail = document.getElementById("detail");
  let source = null;
  let paused = false;
  let skippedTotal = 0;

  function row(item) {
    const tr = document.createElement("tr");
    tr.className = item.status;
    tr.dataset.status = item.status;
    tr.dataset.type = text(item.type);
    const cells = [
      new Date(item.received_at).toLocaleTimeString(),
      item.status,
      item.type,
      item.event,
      item.user_id || item.anonymous_id,
      item.status === "refused" ? `${text(item.code)}: ${text(item.reason)}` : "",
    ];
    for (const value of cells) {
      const td = document.createElement("td");
      td.textContent = text(value);
      tr.appendChild(td);
    }
    const link = document.createElement("a");
    link.href = "#detail";
    link.textContent = "open";
    const path = item.status === "refused" ? `/console/refused/${item.id}` : `/console/messages/${item.id}`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      window.htmx.ajax("GET", path, { target: "#detail", swap: "innerHTML" });
    });
    const td = document.createElement("td");
    td.appendChild(link);
    tr.appendChild(td);
    return tr;
  }

  function connect() {
    if (source) source.close();
    const query = new URLSearchParams(new FormData(filters)).toString();
    source = new EventSource(`/console/debugger/stream?${query}`);
    source.addEventListener("open", () => { status.textContent = paused ? "Paused" : "Live"; });
    source.addEventListener("error", () => { status.textContent = "Reconnecting…"; });
    source.addEventListener("message", (event) => {
      if (paused) return;
      rows.prepend(row(JSON.parse(event.data)));
      while (rows.children.length > 500) rows.lastElementChild.remove();
    });
    source.addEventListener("skipped", (event) => {
      skippedTotal += Number(event.data);
      skippedCount.textContent = String(skippedTotal);
      skipped.hidden = false;
    });
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    rows.replaceChildren();
    connect();
  });
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    status.textContent = paused ? "Paused" : "Live";
  });
  connect();
  void detail;
}

function drawCharts() {
  for (const figure of document.querySelectorAll("figure[data-chart]")) {
    const spec = JSON.parse(document.getElementById(figure.dataset.chart).textContent);
    const names = Object.keys(spec.series);
    const colors = ["#1f6feb", "#b35900", "#2a7d2e", "#8250df"];
    const options = {
      width: Math.min(900, figure.clientWidth || 900),
      height: 220,
      series: [{}, ...names.map((name, i) => ({ label: name, stroke: colors[i % colors.length], width: 2 }))],
      axes: [{}, {}],
    };
    const data = [spec.x, ...names.map((name) => spec.series[name])];
    const plot = new window.uPlot(options, data, figure);
    figure.dataset.points = String(spec.x.length);
    figure.dataset.drawn = "true";
    void plot;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startDebugger();
  drawCharts();
});
