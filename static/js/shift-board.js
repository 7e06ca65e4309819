// Shift board: live seat counts over /ws/shifts/. Claim and release are plain forms that post to
// the page, which answers with a confirmation naming the shift (the same with or without JavaScript).
(function () {
  "use strict";
  const board = document.getElementById("shift-board");
  if (!board) return;
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
    if (rate) {
      // The page priced every multiplier a surge can reach; one it did not (ops changed the rate)
      // shows as the multiplier until the next load.
      const amounts = rate.dataset.payPerCase ? JSON.parse(rate.dataset.payPerCase) : {};
      rate.textContent = amounts[event.rate_multiplier] || "×" + event.rate_multiplier;
    }
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

  if ("WebSocket" in window) connect(1000);
})();
