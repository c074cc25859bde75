/* The dealer exposure page's charts: net lots by symbol and floating P/L by symbol per currency,
   drawn from the JSON the page carries in #exposure-chart-data into the canvases marked
   data-exposure-chart (Chart.js is vendored in static/; no inline script, see crm/lib/csp.py).
   Drawn again after htmx swaps the page body (a filter change). */
(function () {
  "use strict";
  var LONG = "rgba(6, 118, 71, 0.75)", SHORT = "rgba(180, 35, 24, 0.75)";

  /* Mirrored for Arabic: the symbols stand on the right, where the page starts; the number line
     itself still runs left to right (minus on the left), like every figure on the page; the
     canvas carries dir="ltr" so that "-10" is not drawn as "10-". */
  function bars(canvas, labels, values, label) {
    var numbers = values.map(Number);
    var rtl = document.documentElement.getAttribute("dir") === "rtl";
    var existing = Chart.getChart(canvas);
    if (existing) { existing.destroy(); }
    new Chart(canvas, {
      type: "bar",
      data: {labels: labels, datasets: [{label: label, data: numbers,
        maxBarThickness: 28, backgroundColor: numbers.map(function (v) { return v < 0 ? SHORT : LONG; })}]},
      options: {animation: false, maintainAspectRatio: false, indexAxis: "y",
        plugins: {legend: {display: false}},
        scales: {x: {ticks: {maxTicksLimit: 6}}, y: {position: rtl ? "right" : "left"}}}
    });
  }

  function draw() {
    var holder = document.getElementById("exposure-chart-data");
    if (!holder || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    document.querySelectorAll("canvas[data-exposure-chart]").forEach(function (canvas) {
      var label = canvas.dataset.label || "";
      if (canvas.dataset.exposureChart === "net") {
        bars(canvas, data.net.labels, data.net.values, label);
      } else {
        var series = data.pnl[canvas.dataset.currency];
        if (series) { bars(canvas, series.labels, series.values, label); }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "exposure-body") { draw(); }
  });
})();
