/**
 * Dashboard pages: copy buttons and live Realtime state badges.
 *
 * Progressive enhancement only: without this file every page still works and
 * shows the state it had when loaded. It reveals the Copy buttons (when the
 * browser offers a clipboard) and, while a workspace is provisioning, asks
 * the server for its state until it settles.
 */
(function () {
  "use strict";

  // Pause between two status requests for a provisioning workspace.
  const POLL_INTERVAL_MS = 2000;
  // Stop asking after this many requests; reloading the page starts again.
  const MAX_POLLS = 150;
  // How long "Copied" replaces a Copy button's label.
  const COPIED_LABEL_MS = 1500;

  const STATE_LABELS = {
    off: "Off",
    provisioning: "Provisioning",
    ready: "Ready",
    error: "Error",
  };

  /**
   * Make a button copy the text of the element its data-copy-target names.
   * @param {HTMLButtonElement} button
   */
  function setUpCopyButton(button) {
    const source = document.getElementById(button.dataset.copyTarget);
    if (!source || !navigator.clipboard) {
      return;
    }
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(
        function () {
          showBriefly(button, "Copied", label);
        },
        function () {
          showBriefly(button, "Copy failed", label);
        }
      );
    });
  }

  function showBriefly(button, text, label) {
    button.textContent = text;
    window.setTimeout(function () {
      button.textContent = label;
    }, COPIED_LABEL_MS);
  }

  /**
   * Show a status answer ({enabled, state, detail}) on a badge and its detail.
   * @param {HTMLElement} badge
   * @param {{enabled: boolean, state: string, detail: string}} status
   */
  function showState(badge, status) {
    badge.dataset.realtimeState = status.state;
    badge.className = "badge badge-" + status.state;
    badge.textContent = STATE_LABELS[status.state] || status.state;
    const detail = document.getElementById(badge.dataset.detailTarget || "");
    if (!detail) {
      return;
    }
    if (status.state === "error") {
      detail.textContent =
        status.detail || "The realtime backend could not be reached.";
    } else if (status.state !== "provisioning") {
      detail.textContent = "";
    }
  }

  /**
   * Ask for the workspace's state until it leaves "provisioning".
   * @param {HTMLElement} badge
   * @param {number} polls requests made so far
   */
  function watch(badge, polls) {
    if (polls >= MAX_POLLS) {
      return;
    }
    window.setTimeout(function () {
      fetch(badge.dataset.statusUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status request failed: " + response.status);
          }
          return response.json();
        })
        .then(function (status) {
          showState(badge, status);
          if (status.state === "provisioning") {
            watch(badge, polls + 1);
          }
        })
        .catch(function () {
          // The page keeps the state it was loaded with; a reload shows
          // the current one (this also covers an expired login).
        });
    }, POLL_INTERVAL_MS);
  }

  document.querySelectorAll("button[data-copy-target]").forEach(setUpCopyButton);
  document
    .querySelectorAll('[data-status-url][data-realtime-state="provisioning"]')
    .forEach(function (badge) {
      watch(badge, 0);
    });
})();
