// The verification page of the trader's room: the back of an identity card is asked only when the
// client chose an identity card. Without script, the field stays visible with its help text.
(function () {
  "use strict";
  function sync(form) {
    var chosen = form.querySelector("input[name=identity_kind]:checked");
    var back = form.querySelector("#identity-back");
    if (back) { back.hidden = !chosen || chosen.value !== "id_card"; }
  }
  function wire(root) {
    var form = root.querySelector && root.querySelector("#documents-form");
    if (!form || form.dataset.wired) { return; }
    form.dataset.wired = "1";
    form.addEventListener("change", function () { sync(form); });
    sync(form);
  }
  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:afterSwap", function (event) { wire(event.target.parentNode || document); });
})();
