/* The sales KPI page's two charts, drawn from the JSON the page carries in #kpi-chart-data
   (Chart.js is vendored in static/; no inline script, see crm/lib/csp.py). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("kpi-chart-data");
    if (!holder || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    var options = {animation: false, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}};
    new Chart(document.getElementById("kpi-daily"), {type: "line", options: options, data: {
      labels: data.labels,
      datasets: data.series.map(function (s) { return {label: s.label, data: s.data, tension: 0.2}; })}});
    new Chart(document.getElementById("kpi-agents"), {type: "bar", options: options, data: {
      labels: data.agents.labels,
      datasets: [{label: data.series[0].label, data: data.agents.received},
                 {label: data.series[1].label, data: data.agents.contacted}]}});
  });
})();
