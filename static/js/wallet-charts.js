/* Finance's money-flow page: stacked daily bars per provider for deposits and withdrawals (drawn
   by charts.js from their data-chart attributes), and open breaks by age, drawn here from the JSON
   the page carries in #flow-chart-data (no inline script, see crm/lib/csp.py). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("flow-chart-data");
    if (!holder || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    var breaks = document.getElementById("flow-breaks");
    if (breaks && data.breaks.length) {
      new Chart(breaks, {type: "bar", options: {animation: false, indexAxis: "y",
        scales: {x: {beginAtZero: true, ticks: {precision: 0}}}, plugins: {legend: {display: false}}},
        data: {labels: data.breaks.map(function (b) { return b.label; }),
               datasets: [{data: data.breaks.map(function (b) { return b.count; })}]}});
    }
  });
})();
