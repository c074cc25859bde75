/* Finance's money-flow page: stacked daily bars per provider for deposits and withdrawals, and open
   breaks by age, drawn from the JSON the page carries in #flow-chart-data (Chart.js is vendored in
   static/; no inline script, see crm/lib/csp.py). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("flow-chart-data");
    if (!holder || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    var rtl = document.documentElement.dir === "rtl";
    var stacked = {animation: false, scales: {x: {stacked: true, reverse: rtl}, y: {stacked: true, beginAtZero: true}}};
    function bars(id, series) {
      var canvas = document.getElementById(id);
      if (!canvas) { return; }
      new Chart(canvas, {type: "bar", options: stacked, data: {labels: data.labels,
        datasets: series.map(function (s) { return {label: s.label, data: s.data}; })}});
    }
    bars("flow-deposits", data.deposits);
    bars("flow-withdrawals", data.withdrawals);
    var breaks = document.getElementById("flow-breaks");
    if (breaks && data.breaks.length) {
      new Chart(breaks, {type: "bar", options: {animation: false, indexAxis: "y",
        scales: {x: {beginAtZero: true, ticks: {precision: 0}}}, plugins: {legend: {display: false}}},
        data: {labels: data.breaks.map(function (b) { return b.label; }),
               datasets: [{data: data.breaks.map(function (b) { return b.count; })}]}});
    }
  });
})();
