/*
 * Ops live board. The queue, workers on shift, SLA breaches and open tickets arrive as whole
 * snapshots over /ws/ops/live/ (the same object GET /api/v1/tickets/live-board/ returns). While the
 * socket is down the page polls that endpoint every 3 s and reconnects with backoff (1 s doubling
 * to 30 s, jittered). Waits tick locally between snapshots. Any ticket can be opened read-only and
 * transferred. All text goes on the page through textContent.
 */
(function () {
  "use strict";
  var POLL_MS = 3000, MAX_BACKOFF_MS = 30000;
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  var open = null, openSeq = 0, loadingMessages = false;
  var lastGenerated = "", receivedAt = 0;
  var pollTimer = null, attempts = 0, live = false;

  function api(method, path, data) {
    return fetch(path, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: data === undefined ? undefined : JSON.stringify(data) })
      .then(function (res) { return res.json().then(function (b) { return { status: res.status, body: b }; }); });
  }

  // --- Rendering ------------------------------------------------------------------------------

  function row(cells, extra) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      if (c && c.nodeType) td.appendChild(c); else td.textContent = c === null || c === undefined ? "—" : String(c);
      tr.appendChild(td);
    });
    if (extra) tr.className = extra;
    return tr;
  }

  function fill(id, rows) {
    // Keep keyboard focus on the same ticket's button when its table is redrawn.
    var body = document.getElementById(id);
    var focused = document.activeElement;
    var keep = focused && body.contains(focused) ? focused.getAttribute("data-ticket") : null;
    body.textContent = "";
    rows.forEach(function (r) { body.appendChild(r); });
    if (keep) {
      var again = body.querySelector('button[data-ticket="' + keep + '"]');
      if (again) again.focus();
    }
  }

  // A time of day in the viewer's zone, with the zone named ("14:05 CET").
  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  }

  function wait(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? m + " min " + s + " s" : s + " s";
  }

  function waitCell(seconds) {
    var span = document.createElement("span");
    span.setAttribute("data-wait", String(seconds));
    span.textContent = wait(seconds);
    return span;
  }

  function tick() {
    var elapsed = receivedAt ? Math.floor((Date.now() - receivedAt) / 1000) : 0;
    document.querySelectorAll("[data-wait]").forEach(function (el) {
      el.textContent = wait(Number(el.getAttribute("data-wait")) + elapsed);
    });
  }

  function viewButton(id) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "link-button"; b.textContent = "Open #" + id;
    b.setAttribute("data-ticket", String(id));
    b.addEventListener("click", function () { view(id); });
    return b;
  }

  function render(d) {
    // Snapshots from several server processes may cross: never go back to an older one.
    if (!d || !d.generated_at || (lastGenerated && Date.parse(d.generated_at) < Date.parse(lastGenerated))) return;
    lastGenerated = d.generated_at;
    receivedAt = Date.now();
    document.getElementById("updated").textContent = clock(d.generated_at);
    document.getElementById("queue-length").textContent = String(d.queue_length);
    fill("queue", d.queue.map(function (q) { return row([q.language, q.topic, q.queued, waitCell(q.longest_wait_seconds)]); }));
    fill("workers", d.workers.map(function (w) {
      var p = document.createElement("span"); p.className = "presence-" + w.presence; p.textContent = w.presence;
      return row([w.name, w.load + " / " + w.cap, p, clock(w.shift_ends_at)]);
    }));
    fill("breaches", d.sla_breaches.map(function (b) {
      return row(["#" + b.ticket, b.worker_name || "In the queue", waitCell(b.waiting_seconds), viewButton(b.ticket)], "breach");
    }));
    fill("tickets", (d.open_tickets || []).map(function (t) {
      return row(["#" + t.ticket + " · " + t.language + "/" + t.topic, t.status, t.worker_name || "—", viewButton(t.ticket)]);
    }));
  }

  // --- Live updates: the socket, with polling only while it is down ----------------------------

  function setStatus(state) {
    var el = document.getElementById("live-status");
    el.setAttribute("data-state", state);
    el.textContent = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" }[state];
  }

  function poll() {
    api("GET", "/api/v1/tickets/live-board/").then(function (res) { if (res.status === 200) render(res.body); },
                                                   function () {});
  }

  function startPolling() {
    if (pollTimer) return;
    poll();
    pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  function reconnectLater() {
    var delay = Math.min(1000 * Math.pow(2, attempts), MAX_BACKOFF_MS);
    attempts += 1;
    setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + "/ws/ops/live/");
    } catch (error) {
      setStatus("reconnecting"); startPolling(); reconnectLater();
      return;
    }
    socket.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (event.type !== "live_board") return;
      if (!live) { live = true; attempts = 0; stopPolling(); setStatus("live"); }
      render(event.board);
    });
    socket.addEventListener("close", function () {
      live = false;
      setStatus("reconnecting");
      startPolling();
      reconnectLater();
    });
  }

  // --- The read-only ticket viewer and transfer ----------------------------------------------

  function loadMessages() {
    if (loadingMessages || !open) return;
    loadingMessages = true;
    var id = open;
    api("GET", "/api/v1/tickets/" + id + "/messages/?page_size=500&after=" + openSeq).then(function (res) {
      loadingMessages = false;
      if (id !== open) return;
      var log = document.getElementById("viewer-log");
      (res.body.results || []).forEach(function (m) {
        var li = document.createElement("li");
        li.className = m.internal ? "internal" : "";
        li.textContent = "#" + m.seq + " " + m.sender + (m.internal ? " (internal)" : "") + ": " + m.body;
        log.appendChild(li);
        openSeq = m.seq;
      });
    }, function () { loadingMessages = false; });
  }

  function view(id) {
    open = id; openSeq = 0;
    var viewer = document.getElementById("viewer");
    viewer.hidden = false;
    document.getElementById("viewer-title").textContent = "Ticket #" + id + " (read-only)";
    document.getElementById("viewer-log").textContent = "";
    document.getElementById("transfer-result").textContent = "";
    var select = document.getElementById("transfer-to");
    while (select.options.length > 1) select.remove(1);
    api("GET", "/api/v1/tickets/" + id + "/transfer-targets/").then(function (res) {
      (res.body.results || []).forEach(function (w) {
        var o = document.createElement("option"); o.value = String(w.worker); o.textContent = w.name + " (" + w.load + "/" + w.cap + ")";
        select.appendChild(o);
      });
    });
    loadMessages();
    viewer.focus();
  }

  document.getElementById("transfer").addEventListener("submit", function (event) {
    event.preventDefault();
    var to = document.getElementById("transfer-to").value;
    api("POST", "/api/v1/tickets/" + open + "/transfer/", { to_worker: to ? Number(to) : null,
      reason: document.getElementById("transfer-reason").value }).then(function (res) {
      document.getElementById("transfer-result").textContent = res.status === 200 ? "Transferred." : res.body.detail;
      if (!live) poll();  // when live, the board's next snapshot shows the transfer
    });
  });

  setInterval(tick, 1000);
  setInterval(loadMessages, POLL_MS);  // the open conversation (read-only) is still polled
  if ("WebSocket" in window) {
    setStatus("connecting");
    connect();
  } else {
    setStatus("reconnecting");
    startPolling();
  }
})();
