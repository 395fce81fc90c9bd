/* PayMint progressive enhancements. Every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

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
      var reduceMotion = window.matchMedia &&
        window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      var options = {
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" } }
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

  function init(root) {
    initAmountSync(root);
    initDropzones(root);
    initSubmitOnce(root);
    initCharts(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
