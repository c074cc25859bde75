/* Brokerage CRM staff UI: small behaviours on top of htmx. No inline scripts; everything hangs off
   data- attributes so that pages work (less smoothly) without this file. */
(function () {
  "use strict";

  var doc = document;

  function closest(el, selector) {
    return el && el.closest ? el.closest(selector) : null;
  }

  /* ---- side navigation on phones ------------------------------------------------------------ */
  function setNav(open) {
    doc.body.classList.toggle("nav-open", open);
    var btn = doc.querySelector("[data-nav-toggle]");
    if (btn) btn.setAttribute("aria-expanded", open ? "true" : "false");
  }

  doc.addEventListener("click", function (ev) {
    if (closest(ev.target, "[data-nav-toggle]")) {
      setNav(!doc.body.classList.contains("nav-open"));
      return;
    }
    if (closest(ev.target, ".nav-backdrop")) setNav(false);

    // Close open dropdown menus when clicking elsewhere.
    doc.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(ev.target)) menu.removeAttribute("open");
    });

    // Hide search results when clicking outside the search box.
    var search = doc.querySelector("[data-search]");
    if (search && !search.contains(ev.target)) {
      var results = search.querySelector(".search-results");
      if (results) results.innerHTML = "";
    }

    var dismiss = closest(ev.target, "[data-dismiss]");
    if (dismiss) {
      var target = closest(dismiss, dismiss.getAttribute("data-dismiss"));
      if (target) target.remove();
    }

    var toggle = closest(ev.target, "[data-toggle-class]");
    if (toggle) {
      var el = doc.querySelector(toggle.getAttribute("data-target"));
      if (el) {
        var cls = toggle.getAttribute("data-toggle-class");
        el.classList.toggle(cls);
        toggle.setAttribute("aria-expanded", el.classList.contains(cls) ? "false" : "true");
      }
    }
  });

  doc.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      setNav(false);
      doc.querySelectorAll("details.menu[open]").forEach(function (m) { m.removeAttribute("open"); });
    }
  });

  /* ---- global search: arrow keys move through the dropdown, Enter opens the highlighted match;
          with nothing highlighted Enter submits the form (client list filtered by q). ------------ */
  doc.addEventListener("keydown", function (ev) {
    var input = closest(ev.target, "[data-search] input");
    if (!input) return;
    var box = closest(input, "[data-search]");
    var links = Array.prototype.slice.call(box.querySelectorAll(".search-results a"));
    if (ev.key === "Escape") {
      box.querySelector(".search-results").innerHTML = "";
      return;
    }
    if (!links.length || (ev.key !== "ArrowDown" && ev.key !== "ArrowUp" && ev.key !== "Enter")) return;
    var current = links.findIndex(function (a) { return a.classList.contains("is-active"); });
    if (ev.key === "Enter") {
      if (current >= 0) {
        ev.preventDefault();
        window.location.href = links[current].href;
      }
      return;
    }
    ev.preventDefault();
    var next = ev.key === "ArrowDown" ? current + 1 : current - 1;
    if (next < 0) next = links.length - 1;
    if (next >= links.length) next = 0;
    links.forEach(function (a, i) {
      a.classList.toggle("is-active", i === next);
      a.setAttribute("aria-selected", i === next ? "true" : "false");
    });
  });

  /* ---- notification toast: the bell is polled; when its newest unread id grows, show a toast. --- */
  var STORE_KEY = "crm.lastNotificationId";

  function readStored() {
    // null: nothing remembered yet in this browser session.
    try {
      var value = window.sessionStorage.getItem(STORE_KEY);
      return value === null ? null : (parseInt(value, 10) || 0);
    } catch (e) { return null; }
  }

  function store(id) {
    try { window.sessionStorage.setItem(STORE_KEY, String(id)); } catch (e) { /* private mode */ }
  }

  function showToast(title, url, label) {
    var box = doc.getElementById("toasts");
    if (!box) return;
    var toast = doc.createElement("div");
    toast.className = "toast";
    toast.setAttribute("role", "status");
    var main = doc.createElement("div");
    var head = doc.createElement("div");
    head.className = "toast-title";
    head.textContent = title;
    main.appendChild(head);
    if (url) {
      var link = doc.createElement("a");
      link.href = url;
      link.textContent = label || url;
      main.appendChild(link);
    }
    var close = doc.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", box.getAttribute("data-close-label") || "Close");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(main);
    toast.appendChild(close);
    box.appendChild(toast);
    window.setTimeout(function () { toast.remove(); }, 8000);
  }

  function checkBell(bell, isInitial) {
    if (!bell) return;
    var newest = parseInt(bell.getAttribute("data-newest-id") || "0", 10) || 0;
    var seen = readStored();
    // The first page of a session only sets the baseline: notifications already there are not news.
    var isNews = newest > 0 && (seen === null ? !isInitial : newest > seen);
    if (isNews && bell.getAttribute("data-newest-title")) {
      showToast(bell.getAttribute("data-newest-title"), bell.getAttribute("data-list-url"),
                bell.getAttribute("data-list-label"));
    }
    store(Math.max(newest, seen || 0));
  }

  doc.addEventListener("DOMContentLoaded", function () {
    checkBell(doc.getElementById("notification-bell"), true);
  });

  // Keep the search box's combobox state in step with its dropdown.
  doc.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target && ev.target.id === "search-results") {
      var input = doc.getElementById("global-search");
      if (input) input.setAttribute("aria-expanded", ev.target.children.length ? "true" : "false");
    }
  });

  doc.addEventListener("htmx:afterSettle", function (ev) {
    var bell = doc.getElementById("notification-bell");
    if (bell && (ev.target === bell || ev.target.contains(bell) || bell.contains(ev.target))) {
      checkBell(bell, false);
    }
  });

  /* ---- lists marked data-sortable: drag a row to reorder, the list's form saves the order. ---- */
  var dragged = null;
  doc.addEventListener("dragstart", function (ev) {
    dragged = closest(ev.target, "[data-sortable] > li[draggable]");
  });
  doc.addEventListener("dragover", function (ev) {
    var over = closest(ev.target, "[data-sortable] > li[draggable]");
    if (!dragged || !over || over === dragged || over.parentNode !== dragged.parentNode) return;
    ev.preventDefault();
    var box = over.getBoundingClientRect();
    over.parentNode.insertBefore(dragged, (ev.clientY - box.top) > box.height / 2 ? over.nextSibling : over);
  });
  doc.addEventListener("drop", function (ev) {
    var list = dragged && closest(ev.target, "[data-sortable]");
    dragged = null;
    if (!list) return;
    ev.preventDefault();
    var form = closest(list, "form");
    if (form) form.submit();
  });

  /* ---- filter forms marked data-drop-empty leave blank fields out of the URL they push. ----- */
  doc.addEventListener("htmx:configRequest", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (!elt || !closest(elt, "[data-drop-empty]") || ev.detail.verb !== "get") return;
    var params = ev.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "" || params[key] === undefined) delete params[key];
    });
  });

  /* ---- a refused form or filter (400, 422) answers with the page region naming the problem: show
     it, as the full page would, instead of htmx's default of dropping error responses. ------- */
  doc.addEventListener("htmx:beforeSwap", function (ev) {
    var status = ev.detail && ev.detail.xhr && ev.detail.xhr.status;
    var body = (ev.detail && ev.detail.serverResponse) || "";
    // A page region, not a whole page (the error pages are whole pages: those stay a toast).
    if ((status === 400 || status === 422) && body && !/^\s*<!doctype/i.test(body)) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });

  /* ---- an htmx request that fails at the network or server: say so instead of doing nothing. --- */
  doc.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    if (ev.detail && ev.detail.elt && ev.detail.elt.id === "notification-bell") return;
    var box = doc.getElementById("toasts");
    var msg = box ? box.getAttribute("data-error-label") : "Something went wrong.";
    if (xhr && xhr.status === 404) msg = box ? box.getAttribute("data-notfound-label") : msg;
    showToast(msg, null, null);
  });
})();
