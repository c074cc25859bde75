/* Charts drawn from the JSON a page carries (Chart.js is vendored in static/; no inline script, see
   crm/lib/csp.py). Declarative: <canvas data-chart="ID" data-chart-series="KEY"
   [data-chart-type="bar|line"] [data-chart-stacked]> draws the series KEY of the JSON held in the
   element #ID, shaped {labels: [...], KEY: [{label, data, stack}, ...]}; nothing is drawn for an
   empty series, and a series of zeros gives way to the canvas's data-chart-empty text. From code:
   CrmCharts.series(canvas, labels, series, {type, stacked, aspectRatio}). Right to left, the time
   axis runs from the right. */
(function () {
  "use strict";
  function series(canvas, labels, list, opts) {
    opts = opts || {};
    var rtl = document.documentElement.dir === "rtl";
    var stacked = Boolean(opts.stacked);
    return new Chart(canvas, {
      type: opts.type || "bar",
      options: {animation: false, aspectRatio: opts.aspectRatio || 3,
                scales: {x: {stacked: stacked, reverse: rtl}, y: {stacked: stacked, beginAtZero: true}}},
      data: {labels: labels, datasets: list.map(function (s) {
        return {label: s.label, data: s.data, stack: s.stack, tension: 0.2};
      })}
    });
  }
  window.CrmCharts = {series: series};
  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Chart === "undefined") { return; }
    var sources = {};
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var id = canvas.getAttribute("data-chart");
      var holder = document.getElementById(id);
      if (!holder) { return; }
      var data = sources[id] || (sources[id] = JSON.parse(holder.textContent));
      var list = data[canvas.getAttribute("data-chart-series")] || [];
      var empty = canvas.getAttribute("data-chart-empty");
      var blank = !list.some(function (s) { return s.data.some(function (v) { return v; }); });
      if (blank && empty) {
        var note = document.createElement("p");
        note.className = "muted p-muted";
        note.textContent = empty;
        canvas.replaceWith(note);
        return;
      }
      if (!list.length) { return; }
      series(canvas, data.labels, list, {type: canvas.getAttribute("data-chart-type"),
                                         stacked: canvas.hasAttribute("data-chart-stacked")});
    });
  });
})();
