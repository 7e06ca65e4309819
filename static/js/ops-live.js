/*
 * Ops live board: refreshes the queue, workers on shift and SLA breaches every few seconds from
 * /api/v1/tickets/live-board/; any ticket can be opened read-only and transferred.
 * All text goes on the page through textContent.
 */
(function () {
  "use strict";
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  var open = null, openSeq = 0;

  function api(method, path, data) {
    return fetch(path, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: data === undefined ? undefined : JSON.stringify(data) })
      .then(function (res) { return res.json().then(function (b) { return { status: res.status, body: b }; }); });
  }

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
    var body = document.getElementById(id);
    body.textContent = "";
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function wait(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? m + " min " + s + " s" : s + " s";
  }

  function viewButton(id) {
    var b = document.createElement("button");
    b.type = "button"; b.className = "link-button"; b.textContent = "Open #" + id;
    b.addEventListener("click", function () { view(id); });
    return b;
  }

  function refresh() {
    api("GET", "/api/v1/tickets/live-board/").then(function (res) {
      var d = res.body;
      document.getElementById("updated").textContent = new Date(d.generated_at).toLocaleTimeString();
      document.getElementById("queue-length").textContent = String(d.queue_length);
      fill("queue", d.queue.map(function (q) { return row([q.language, q.topic, q.queued, wait(q.longest_wait_seconds)]); }));
      fill("workers", d.workers.map(function (w) {
        var p = document.createElement("span"); p.className = "presence-" + w.presence; p.textContent = w.presence;
        return row([w.name + " (" + w.username + ")", w.load + " / " + w.cap, p, new Date(w.shift_ends_at).toLocaleTimeString()]);
      }));
      fill("breaches", d.sla_breaches.map(function (b) { return row([b.ticket, b.worker, wait(b.waiting_seconds), viewButton(b.ticket)], "breach"); }));
    });
    api("GET", "/api/v1/tickets/?status=assigned&page_size=100").then(function (a) {
      api("GET", "/api/v1/tickets/?status=queued&page_size=100").then(function (q) {
        var rows = (q.body.results || []).concat(a.body.results || []);
        fill("tickets", rows.map(function (t) { return row([t.id + " · " + t.language + "/" + t.topic, t.status, t.assigned_worker, viewButton(t.id)]); }));
      });
    });
    if (open) loadMessages();
  }

  function loadMessages() {
    api("GET", "/api/v1/tickets/" + open + "/messages/?page_size=500&after=" + openSeq).then(function (res) {
      var log = document.getElementById("viewer-log");
      (res.body.results || []).forEach(function (m) {
        var li = document.createElement("li");
        li.className = m.internal ? "internal" : "";
        li.textContent = "#" + m.seq + " " + m.sender + (m.internal ? " (internal)" : "") + ": " + m.body;
        log.appendChild(li);
        openSeq = m.seq;
      });
    });
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
      refresh();
    });
  });

  refresh();
  setInterval(refresh, 3000);
})();
