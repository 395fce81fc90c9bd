/* Live updates (notifications/stream.py): the bell, funding progress bars and wallet balances
   follow GET /api/v1/events (server-sent events) without a reload. Without JavaScript, or
   while the stream is down, the pages show the same on reload.

   The connection is htmx's SSE extension's (static/vendor/htmx-ext-sse): base.html has
   <div id="live-updates" hx-ext="sse">; this script gives it the stream's URL (with what the
   page shows) as sse-connect and lets htmx open it. The extension opens the EventSource,
   reconnects with backoff when it fails and closes it when the element goes; the browser
   resumes with Last-Event-ID. The messages are JSON (the same stream serves the mobile
   app), so nothing is swapped in as HTML: each is applied to the page below, as text. */
(function () {
  "use strict";
  var url = document.body && document.body.getAttribute("data-live-url");
  var holder = document.getElementById("live-updates");
  if (!url || !holder || !window.EventSource || !window.htmx) return;
  var locale = document.documentElement.getAttribute("data-number-locale") || undefined;
  var seen = {};

  function money(amount, currency) {
    var places = currency === "JPY" ? 0 : 2;
    var text = Number(amount).toLocaleString(locale, {
      minimumFractionDigits: places, maximumFractionDigits: places,
    });
    return text + " " + currency;
  }

  function setBell(count) {
    document.querySelectorAll("[data-bell]").forEach(function (bell) {
      bell.setAttribute("data-unread", String(count));
      var badge = bell.querySelector(".bell-count");
      if (count > 0) {
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "badge bell-count";
          bell.appendChild(badge);
        }
        badge.textContent = String(count);
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = " unread";
        badge.appendChild(hidden);
      } else if (badge) {
        badge.remove();
      }
    });
  }

  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (region) region.textContent = text;
  }

  function setProgress(p) {
    document.querySelectorAll('[data-listing-progress="' + p.listing_id + '"]').forEach(function (box) {
      var bar = box.querySelector("progress");
      if (bar) {
        bar.value = p.percent;
        bar.setAttribute("aria-label", "Funded " + p.percent + " percent");
      }
      var label = box.querySelector("[data-progress-label]");
      if (label) label.textContent = p.percent + "% of " + money(p.advance_amount, p.currency);
      box.querySelectorAll("[data-progress-funded]").forEach(function (el) {
        el.textContent = money(p.funded_amount, p.currency);
      });
      box.querySelectorAll("[data-progress-percent]").forEach(function (el) {
        el.textContent = String(p.percent);
      });
      box.querySelectorAll("[data-progress-investors]").forEach(function (el) {
        el.textContent = String(p.investor_count);
      });
      box.setAttribute("data-percent", String(p.percent));
    });
  }

  function setBalances(balances) {
    balances.forEach(function (b) {
      document.querySelectorAll('[data-wallet-balance="' + b.currency + '"]').forEach(function (el) {
        el.textContent = money(b.balance, b.currency);
      });
    });
  }

  // What this page shows, so that the first answer (and every poll under WSGI) brings it.
  var params = [];
  var listings = {};
  document.querySelectorAll("[data-listing-progress]").forEach(function (el) {
    listings[el.getAttribute("data-listing-progress")] = true;
  });
  Object.keys(listings).slice(0, 50).forEach(function (id) {
    params.push("listing=" + encodeURIComponent(id));
  });
  if (document.querySelector("[data-wallet-balance]")) params.push("wallet=1");
  if (params.length) url += (url.indexOf("?") < 0 ? "?" : "&") + params.join("&");

  function listen(source) {
    source.addEventListener("unread", function (e) { setBell(JSON.parse(e.data).count); });
    source.addEventListener("notification", function (e) {
      var n = JSON.parse(e.data);
      setBell(n.unread);
      if (seen[n.id]) return;
      seen[n.id] = true;
      announce(n.title);
    });
    source.addEventListener("listing.progress", function (e) { setProgress(JSON.parse(e.data)); });
    source.addEventListener("wallet.balance", function (e) { setBalances(JSON.parse(e.data).balances); });
  }

  // The extension announces each EventSource it opens (a new one after a failed connection;
  // the same one again after the browser's own reconnection): listen to each once.
  var listening = [];
  holder.addEventListener("htmx:sseOpen", function (e) {
    var source = e.detail && e.detail.source;
    if (!source || listening.indexOf(source) >= 0) return;
    listening = listening.filter(function (s) { return s.readyState !== 2; });  // CLOSED
    listening.push(source);
    listen(source);
  });
  // The extension takes every "error" event for a failure: it logs it (console.error) and, once
  // the source is CLOSED, opens a new one with backoff. The browser's own reconnection (after
  // the stream's `retry:` under WSGI, or its time limit under uvicorn) fires "error" too, with
  // the source CONNECTING again: routine, so only the errors that closed the source reach the
  // extension (htmx.createEventSource is its documented hook for making the EventSource).
  window.htmx.createEventSource = function (streamUrl) {
    var source = new EventSource(streamUrl, { withCredentials: true });
    var extensionHandler = null;
    Object.defineProperty(source, "onerror", {
      get: function () { return extensionHandler; },
      set: function (fn) { extensionHandler = fn; },
    });
    source.addEventListener("error", function (e) {
      if (source.readyState === EventSource.CLOSED && extensionHandler) extensionHandler.call(source, e);
    });
    return source;
  };
  holder.setAttribute("sse-connect", url);
  window.htmx.process(holder);
})();
