// Shift board: live seat counts over /ws/shifts/, and one-click claim/release through the API.
// Without JavaScript the forms post to the page and the page reloads; this only enhances them.
(function () {
  "use strict";
  const board = document.getElementById("shift-board");
  if (!board) return;
  const status = document.getElementById("board-status");

  function announce(text) {
    if (status) status.textContent = text;
  }

  function rowFor(shiftId) {
    return board.querySelector('tr[data-shift-id="' + shiftId + '"]');
  }

  function applyUpdate(event) {
    const row = rowFor(event.shift);
    if (!row) return;
    if (event.status !== "published") {
      row.remove();
      return;
    }
    const seats = row.querySelector(".seats-left");
    if (seats && seats.textContent !== String(event.seats_left)) {
      seats.textContent = String(event.seats_left);
      seats.classList.add("changed");
      setTimeout(function () { seats.classList.remove("changed"); }, 1200);
    }
    const rate = row.querySelector(".rate");
    if (rate) rate.textContent = "×" + event.rate_multiplier;
    const claim = row.querySelector('form[action$="/claim/"] button');
    if (claim) claim.disabled = event.seats_left === 0 || claim.dataset.notApproved === "true";
  }

  function connect(delay) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + board.dataset.wsPath);
    socket.addEventListener("message", function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (event.type === "shift.updated") applyUpdate(event);
    });
    socket.addEventListener("open", function () { board.dataset.live = "true"; });
    socket.addEventListener("close", function () {
      board.dataset.live = "false";
      const next = Math.min((delay || 1000) * 2, 30000);
      setTimeout(function () { connect(next); }, delay || 1000);
    });
  }

  async function submitThroughApi(form) {
    const button = form.querySelector("button");
    const token = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token, "Accept": "application/json" },
      });
      const body = await response.json();
      if (!response.ok) {
        announce(body.detail || "That did not work.");
        button.disabled = false;
        return;
      }
      // Re-render the row's action from the server (claim ⇄ release).
      window.location.reload();
    } catch (error) {
      form.submit();
    }
  }

  board.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.dataset.api) return;
    event.preventDefault();
    submitThroughApi(form);
  });

  if ("WebSocket" in window) connect(1000);
})();
