/* PayMint progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The main menu collapses behind its "Menu" button on narrow screens (CSS decides when the
  // button shows); Escape closes it and gives focus back to the button.
  function initNavToggle(root) {
    root.querySelectorAll("[data-nav-toggle]").forEach(function (button) {
      if (button.dataset.navReady) return;
      button.dataset.navReady = "1";
      var menu = document.getElementById(button.getAttribute("aria-controls"));
      if (!menu) return;
      button.hidden = false;
      function setOpen(open) {
        button.setAttribute("aria-expanded", open ? "true" : "false");
        menu.classList.toggle("is-open", open);
      }
      button.addEventListener("click", function () {
        setOpen(button.getAttribute("aria-expanded") !== "true");
      });
      menu.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
          setOpen(false);
          button.focus();
        }
      });
    });
  }

  // Drag-and-drop onto the invoice upload field (the plain file input still works).
  function initDropzones(root) {
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      if (zone.dataset.dropzoneReady) return;
      zone.dataset.dropzoneReady = "1";
      var input = zone.querySelector("input[type=file]");
      if (!input) return;
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("is-dragover");
        });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.remove("is-dragover");
        });
      });
      zone.addEventListener("drop", function (event) {
        if (!event.dataTransfer || !event.dataTransfer.files.length) return;
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
        var status = zone.querySelector("[data-dropzone-status]");
        if (status) status.textContent = "Selected: " + event.dataTransfer.files[0].name;
      });
    });
  }

  // Forms marked data-submit-once disable their buttons after the first submit
  // (the server is idempotent anyway; this just stops accidental double clicks).
  function initSubmitOnce(root) {
    root.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      if (form.dataset.submitOnceReady) return;
      form.dataset.submitOnceReady = "1";
      form.addEventListener("submit", function () {
        window.setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (button) {
            button.disabled = true;
            button.setAttribute("aria-busy", "true");
          });
        }, 0);
      });
    });
  }

  // Charts: <canvas data-chart="id-of-json-script" data-chart-type="bar">.
  function initCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.chartReady) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      canvas.dataset.chartReady = "1";
      var data = JSON.parse(source.textContent);
      var type = canvas.dataset.chartType || "bar";
      var round = type === "doughnut" || type === "pie";
      var palette = ["#2a7b6f", "#4c9a89", "#b08600", "#c25e00", "#1d4f86", "#7a4f9a", "#8c8c8c", "#3f7f3f"];
      data.datasets.forEach(function (ds, i) {
        // Round charts colour each slice; bar charts colour each dataset (currency).
        ds.backgroundColor = round
          ? ds.data.map(function (_, j) { return palette[j % palette.length]; })
          : palette[i % palette.length];
      });
      // Tooltips show money with its currency, grouped for the reader's language: round charts
      // give each slice's currency in data.currencies, bar charts name the currency per dataset.
      var locale = document.documentElement.dataset.numberLocale || undefined;
      var number = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      var currencies = data.currencies || [];
      delete data.currencies;
      var tooltip = {
        callbacks: {
          label: function (ctx) {
            var value = round ? ctx.parsed : ctx.parsed.y;
            var currency = round ? (currencies[ctx.dataIndex] || "") : (ctx.dataset.label || "");
            var name = round ? ctx.label : ctx.dataset.label;
            return name + ": " + number.format(value) + (currency && name !== currency ? " " + currency : "");
          }
        }
      };
      var reduceMotion = window.matchMedia &&
        window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      var options = {
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" }, tooltip: tooltip }
      };
      if (reduceMotion) options.animation = false;
      if (!round) options.scales = { x: { stacked: true }, y: { stacked: true, beginAtZero: true } };
      new window.Chart(canvas, { type: type, data: data, options: options });
    });
  }

  // The calculator's amount also fills the invest form's amount.
  function initAmountSync(root) {
    root.querySelectorAll("form[data-sync-amount]").forEach(function (form) {
      if (form.dataset.syncReady) return;
      form.dataset.syncReady = "1";
      var source = form.querySelector("input[name=amount]");
      if (!source) return;
      source.addEventListener("input", function () {
        var target = document.querySelector(form.dataset.syncAmount);
        if (target) target.value = source.value;
      });
    });
  }

  // A table box that scrolls sideways must be reachable by keyboard (WCAG 2.1.1): focusable
  // only while it actually scrolls, so that it adds no empty tab stop otherwise.
  function initScrollRegions(root) {
    if (!window.ResizeObserver) return;
    root.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.dataset.scrollReady) return;
      wrap.dataset.scrollReady = "1";
      new window.ResizeObserver(function () {
        if (wrap.scrollWidth > wrap.clientWidth + 1) wrap.setAttribute("tabindex", "0");
        else wrap.removeAttribute("tabindex");
      }).observe(wrap);
    });
  }

  // On phones a filter panel starts closed (the active filters show as chips above the
  // results) unless it holds an error to fix.
  function initCollapsibles(root) {
    if (!window.matchMedia || !window.matchMedia("(max-width: 40rem)").matches) return;
    root.querySelectorAll("details[data-collapse-on-phone]").forEach(function (details) {
      if (details.dataset.collapseReady) return;
      details.dataset.collapseReady = "1";
      if (!details.querySelector(".errorlist, .form-errors")) details.open = false;
    });
  }

  // Invoice review: focusing (or hovering) a field emphasises the box on the document page
  // where it was read (boxes: <rect data-field="name"> in .doc-regions).
  function initRegionHighlight(root) {
    root.querySelectorAll("form[data-region-form]").forEach(function (form) {
      if (form.dataset.regionReady) return;
      form.dataset.regionReady = "1";
      function show(name) {
        document.querySelectorAll(".doc-regions rect").forEach(function (rect) {
          rect.classList.toggle("is-active", rect.getAttribute("data-field") === name);
        });
      }
      ["focusin", "mouseover"].forEach(function (type) {
        form.addEventListener(type, function (event) {
          var field = event.target.closest(".field");
          var input = field && field.querySelector("[name]");
          if (input) show(input.name);
        });
      });
      form.addEventListener("focusout", function () { show(null); });
    });
  }

  // After a rejected submit, move focus to the error summary so keyboard and screen reader
  // users start there (its links lead to each field).
  function focusErrorSummary(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (summary && !summary.dataset.focused) {
      summary.dataset.focused = "1";
      summary.focus();
    }
  }

  function init(root) {
    focusErrorSummary(root);
    initRegionHighlight(root);
    initCollapsibles(root);
    initScrollRegions(root);
    initNavToggle(root);
    initAmountSync(root);
    initDropzones(root);
    initSubmitOnce(root);
    initCharts(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
