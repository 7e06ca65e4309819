/*
 * Worker console: every assigned chat side by side, over the agent socket (/ws/agent/, session auth).
 * History and actions go through the REST API. Message bodies are put on the page with textContent only.
 */
(function () {
  "use strict";
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;
  var chats = {};            // ticket id -> chat state
  var canned = [];
  var ws = null, retries = 0, titleBase = document.title, titleTimer = null;
  var chatsBox = document.getElementById("chats");
  var presence = document.getElementById("presence");
  var empty = document.getElementById("empty");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function api(method, path, data) {
    return fetch(path, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: data === undefined ? undefined : JSON.stringify(data) })
      .then(function (res) { return res.json().catch(function () { return {}; }).then(function (b) { return { status: res.status, body: b }; }); });
  }

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); var gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio: the visual alert remains */ }
  }

  function flashTitle(text) {
    clearInterval(titleTimer);
    var on = false, n = 0;
    titleTimer = setInterval(function () {
      document.title = (on = !on) ? text : titleBase;
      if (++n > 10) { clearInterval(titleTimer); document.title = titleBase; }
    }, 800);
  }

  function uid() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }

  function fill(text, chat) {
    return text.replace(/\{customer_name\}/g, chat.ticket.customer_name || "")
      .replace(/\{worker_name\}/g, (document.querySelector(".who") || {}).firstChild ? document.querySelector(".who").firstChild.textContent.trim() : "")
      .replace(/\{ticket_id\}/g, String(chat.ticket.id));
  }

  function updateSummary() {
    var n = Object.keys(chats).length;
    empty.hidden = n > 0;
    document.getElementById("summary").textContent = n ? n + " open chat" + (n === 1 ? "" : "s") : "";
  }

  function openChat(ticket, isNew) {
    if (chats[ticket.id]) return chats[ticket.id];
    var chat = { ticket: ticket, lastSeq: 0, unread: 0, shown: {} };
    var pane = el("section", { "class": "chat", "data-ticket": String(ticket.id), "aria-label": "Chat " + ticket.id, tabindex: "-1" });
    var header = el("header");
    header.appendChild(el("h2", {}, "#" + ticket.id + " · " + (ticket.customer_name || "Customer")));
    header.appendChild(el("span", { "class": "muted" }, ticket.language + " · " + ticket.topic));
    chat.badge = el("span", { "class": "unread", hidden: "", "aria-label": "unread messages" });
    header.appendChild(chat.badge);
    pane.appendChild(header);
    var history = el("details", { "class": "history" });
    history.appendChild(el("summary", {}, "Earlier tickets of this customer (verified by the site)"));
    var historyList = el("ul");
    history.appendChild(historyList);
    pane.appendChild(history);
    chat.log = el("ol", { "class": "log", role: "log", "aria-label": "Messages of chat " + ticket.id });
    pane.appendChild(chat.log);
    chat.typing = el("p", { "class": "typing", "aria-live": "off" });
    pane.appendChild(chat.typing);

    var form = el("form", { "class": "compose" });
    var textId = "reply-" + ticket.id;
    form.appendChild(el("label", { "for": textId }, "Reply"));
    var text = el("textarea", { id: textId, rows: "2", maxlength: "4000" });
    form.appendChild(text);
    var row = el("div", { "class": "row" });
    var internal = el("input", { type: "checkbox", id: "internal-" + ticket.id });
    row.appendChild(internal);
    row.appendChild(el("label", { "for": "internal-" + ticket.id }, "Internal note"));
    var cannedSelect = el("select", { "aria-label": "Canned response" });
    cannedSelect.appendChild(el("option", { value: "" }, "Canned response…"));
    canned.forEach(function (c, i) { cannedSelect.appendChild(el("option", { value: String(i) }, c.title)); });
    cannedSelect.addEventListener("change", function () {
      if (cannedSelect.value !== "") text.value = fill(canned[Number(cannedSelect.value)].body, chat);
      cannedSelect.value = "";
      text.focus();
    });
    row.appendChild(cannedSelect);
    row.appendChild(el("button", { type: "submit" }, "Send"));
    form.appendChild(row);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!text.value.trim()) return;
      var frame = { type: "message", ticket: ticket.id, body: text.value, client_id: uid(), internal: internal.checked };
      if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
      else api("POST", "/api/v1/tickets/" + ticket.id + "/messages/", frame).then(function (res) { if (res.body.seq) accept(res.body); });
      text.value = ""; internal.checked = false;
    });
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
    var lastTyping = 0;
    text.addEventListener("input", function () {
      if (Date.now() - lastTyping > 2000 && ws && ws.readyState === 1) {
        lastTyping = Date.now();
        ws.send(JSON.stringify({ type: "typing", ticket: ticket.id }));
      }
    });
    pane.appendChild(form);

    var actions = el("details");
    actions.appendChild(el("summary", {}, "Resolve or transfer"));
    var resolve = el("form", { "class": "resolve" });
    resolve.appendChild(el("label", { "for": "resolution-" + ticket.id }, "Resolution"));
    var resolution = el("input", { id: "resolution-" + ticket.id, maxlength: "2000", required: "" });
    resolve.appendChild(resolution);
    resolve.appendChild(el("label", { "for": "category-" + ticket.id }, "Category"));
    var category = el("select", { id: "category-" + ticket.id });
    ["answered", "refund", "bug", "account", "escalated", "other"].forEach(function (c) { category.appendChild(el("option", { value: c }, c)); });
    resolve.appendChild(category);
    resolve.appendChild(el("button", { type: "submit" }, "Resolve"));
    resolve.addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/api/v1/tickets/" + ticket.id + "/resolve/", { resolution: resolution.value, category: category.value })
        .then(function (res) { if (res.status === 200) closeChat(ticket.id, "Resolved"); else alert(res.body.detail); });
    });
    actions.appendChild(resolve);
    var transfer = el("form", { "class": "transfer" });
    transfer.appendChild(el("label", { "for": "to-" + ticket.id }, "Transfer to"));
    var target = el("select", { id: "to-" + ticket.id });
    target.appendChild(el("option", { value: "" }, "Back to the queue"));
    transfer.appendChild(target);
    transfer.appendChild(el("label", { "for": "reason-" + ticket.id }, "Reason"));
    var reason = el("input", { id: "reason-" + ticket.id, maxlength: "1000", required: "" });
    transfer.appendChild(reason);
    transfer.appendChild(el("button", { type: "submit" }, "Transfer"));
    transfer.addEventListener("submit", function (event) {
      event.preventDefault();
      api("POST", "/api/v1/tickets/" + ticket.id + "/transfer/", { to_worker: target.value ? Number(target.value) : null, reason: reason.value })
        .then(function (res) { if (res.status === 200) closeChat(ticket.id, "Transferred"); else alert(res.body.detail); });
    });
    actions.appendChild(transfer);
    actions.addEventListener("toggle", function () {
      if (!actions.open) return;
      api("GET", "/api/v1/tickets/" + ticket.id + "/transfer-targets/").then(function (res) {
        while (target.options.length > 1) target.remove(1);
        (res.body.results || []).forEach(function (w) {
          target.appendChild(el("option", { value: String(w.worker) }, w.name + " (" + w.load + "/" + w.cap + ")"));
        });
      });
    });
    pane.appendChild(actions);

    pane.addEventListener("focusin", function () { chat.unread = 0; chat.badge.hidden = true; pane.classList.remove("alert"); });
    chat.pane = pane;
    chats[ticket.id] = chat;
    chatsBox.appendChild(pane);
    updateSummary();

    history.addEventListener("toggle", function () {
      if (!history.open || historyList.childElementCount) return;
      api("GET", "/api/v1/tickets/" + ticket.id + "/history/").then(function (res) {
        var rows = res.body.results || [];
        if (!rows.length) historyList.appendChild(el("li", {}, "No earlier tickets."));
        rows.forEach(function (t) {
          historyList.appendChild(el("li", {}, "#" + t.id + " · " + t.status + " · " + t.topic + " · " + t.created_at.slice(0, 10) + (t.resolution ? " · " + t.resolution : "")));
        });
      });
    });
    loadHistory(chat);
    if (isNew) { pane.classList.add("alert"); beep(); flashTitle("New chat!"); }
    return chat;
  }

  function loadHistory(chat) {
    return api("GET", "/api/v1/tickets/" + chat.ticket.id + "/messages/?page_size=500&after=" + chat.lastSeq).then(function (res) {
      (res.body.results || []).forEach(function (m) { render(chat, m); });
    });
  }

  function render(chat, m) {
    if (chat.shown[m.seq]) return;
    chat.shown[m.seq] = true;
    chat.lastSeq = Math.max(chat.lastSeq, m.seq);
    var item = el("li", { "class": "msg " + m.sender + (m.internal ? " internal" : ""), "data-seq": String(m.seq) });
    item.appendChild(el("span", { style: "position:absolute;left:-999px" }, (m.internal ? "Internal note" : m.sender) + ": "));
    item.appendChild(document.createTextNode(m.body));
    chat.log.appendChild(item);
    chat.log.scrollTop = chat.log.scrollHeight;
    if (m.sender === "customer" && !chat.pane.contains(document.activeElement)) {
      chat.unread += 1;
      chat.badge.hidden = false;
      chat.badge.textContent = String(chat.unread);
    }
  }

  function accept(m) {
    var chat = chats[m.ticket];
    if (!chat) return;
    if (m.seq > chat.lastSeq + 1) { loadHistory(chat); return; }
    render(chat, m);
  }

  function closeChat(id, why) {
    var chat = chats[id];
    if (!chat) return;
    chat.pane.remove();
    delete chats[id];
    updateSummary();
    presence.textContent = "Online · chat #" + id + " " + why.toLowerCase();
  }

  function connect() {
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/agent/");
    ws = socket;
    socket.onopen = function () { retries = 0; presence.textContent = "Online"; presence.classList.add("online"); };
    socket.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.type === "ticket.assigned") openChat(data.ticket, true);
      else if (data.type === "message") accept(data);
      else if (data.type === "typing") {
        var chat = chats[data.ticket];
        if (chat) { chat.typing.textContent = "Customer is typing…"; clearTimeout(chat.typingTimer); chat.typingTimer = setTimeout(function () { chat.typing.textContent = ""; }, 3000); }
      } else if (data.type === "ticket.resolved") closeChat(data.ticket, "Resolved");
      else if (data.type === "ticket.transferred") closeChat(data.ticket, "Transferred");
      else if (data.type === "error") presence.textContent = "Online · " + data.detail;
    };
    socket.onclose = function () {
      if (ws !== socket) return;
      presence.textContent = "Disconnected, reconnecting…"; presence.classList.remove("online");
      retries += 1;
      setTimeout(function () { Object.keys(chats).forEach(function (id) { loadHistory(chats[id]); }); connect(); },
        Math.min(10000, 500 * Math.pow(2, retries)));
    };
  }

  api("GET", "/api/v1/tickets/canned-responses/").then(function (res) { canned = res.body.results || []; }).finally(connect);
})();
