// A long list of checkboxes ([data-checklist], e.g. the countries of the partner application): a search box
// shown only with script narrows the list to the boxes whose label or value contains what is typed (any
// case, accents ignored); chosen boxes always stay shown, and the chosen ones are listed under it. Without
// script the whole list scrolls and the form works the same.
(function () {
  "use strict";
  function fold(text) {
    return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }
  function wire(box) {
    if (box.dataset.wired) { return; }
    box.dataset.wired = "1";
    var find = box.querySelector("[data-checklist-find]");
    var input = find && find.querySelector("input");
    var none = box.querySelector("[data-checklist-none]");
    var chosen = box.querySelector("[data-checklist-chosen]");
    var items = Array.prototype.slice.call(box.querySelectorAll(".p-checklist-item"));
    var keys = items.map(function (item) { return fold(item.textContent); });
    function filter() {
      var wanted = fold(input ? input.value : "");
      var matches = 0;
      items.forEach(function (item, n) {
        var match = !wanted || keys[n].indexOf(wanted) !== -1;
        item.hidden = !(match || item.querySelector("input").checked);
        if (match) { matches += 1; }
      });
      if (none) { none.hidden = matches > 0; }
    }
    function list() {
      if (!chosen) { return; }
      var names = items.filter(function (item) { return item.querySelector("input").checked; })
        .map(function (item) { return item.querySelector("span").textContent; });
      chosen.textContent = names.length ? chosen.dataset.label + " " + names.join(", ") : "";
    }
    if (find && input) {
      find.hidden = false;
      input.addEventListener("input", filter);
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); }  // typing a name never sends the form
      });
    }
    box.addEventListener("change", list);
    filter();
    list();
  }
  function wireAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-checklist]"), wire);
  }
  document.addEventListener("DOMContentLoaded", function () { wireAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { wireAll(event.target.parentNode || document); });
})();
