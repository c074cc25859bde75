/* The reporting hub's chart: drawn from the JSON the page carries in #reports-chart-data
   ({type, labels, datasets: [{label, data}]}); Chart.js is vendored in static/, no inline script. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("reports-chart-data");
    var canvas = document.getElementById("reports-chart");
    if (!holder || !canvas || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    if (!data.labels || !data.labels.length) { canvas.parentNode.hidden = true; return; }
    new Chart(canvas, {type: data.type || "bar", options: {animation: false, scales: {y: {beginAtZero: true}}},
      data: {labels: data.labels, datasets: data.datasets}});
  });
})();
