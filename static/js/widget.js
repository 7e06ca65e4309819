/*
 * Shiftline chat widget. Embed with one tag:
 *   <script src="https://YOUR-SHIFTLINE/static/js/widget.js" defer></script>
 * Options (data- attributes on the tag): data-mode="inline" renders into #shiftline-chat instead of
 * a floating button; data-topics="general,payments" limits the topics offered. A site that knows its
 * signed-in customer adds data-customer-id and data-customer-signature (hex HMAC-SHA256 of the id
 * with WIDGET_IDENTITY_SECRET, made on the site's server) so workers see that customer's earlier tickets.
 *
 * Message bodies are plain text: they are only ever put on the page with textContent.
 * Delivery: the socket resumes with ?after=<last seq>; a gap or a dropped socket falls back to
 * GET /messages/?after=, and unsent messages are re-sent with the same client_id (stored once).
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var base = new URL(script.src, location.href).origin;
  var mode = script.getAttribute("data-mode") || "floating";
  var topics = (script.getAttribute("data-topics") || "general,payments,refunds,orders,account,disputes").split(",");
  var LANGUAGES = [["en", "English"], ["de", "Deutsch"], ["fr", "Français"], ["es", "Español"], ["pt", "Português"],
    ["it", "Italiano"], ["nl", "Nederlands"], ["pl", "Polski"]];
  var STORE = "shiftline-chat:" + base;

  var state = { ticket: null, token: null, lastSeq: 0, status: null, pending: {}, ws: null, retries: 0,
    polling: null, typingTimer: null, lastTyping: 0, shown: {} };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function css() {
    var style = el("style");
    style.textContent = [
      ".slw{font:15px/1.45 system-ui,sans-serif;color:#14213d;background:#fff;border:1px solid #dfe3ec;border-radius:12px;",
      "display:flex;flex-direction:column;max-width:420px;width:100%;height:560px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.12)}",
      ".slw-floating{position:fixed;right:16px;bottom:80px;z-index:2147483000;width:min(420px,calc(100vw - 32px))}",
      ".slw-launch{position:fixed;right:16px;bottom:16px;z-index:2147483000;background:#1d4ed8;color:#fff;border:0;",
      "border-radius:999px;padding:.8rem 1.2rem;font:600 15px system-ui,sans-serif;min-height:44px;cursor:pointer}",
      ".slw header{background:#1d4ed8;color:#fff;padding:.7rem 1rem;font-weight:600}",
      ".slw-body{flex:1;overflow:auto;padding:.75rem 1rem}",
      ".slw form{display:grid;gap:.35rem}.slw label{font-weight:600;margin-top:.35rem}",
      ".slw input,.slw select,.slw textarea{font:inherit;padding:.5rem;border:1px solid #b8bfcc;border-radius:8px;width:100%;box-sizing:border-box}",
      ".slw button{background:#1d4ed8;color:#fff;border:0;border-radius:8px;padding:.55rem 1rem;font:inherit;font-weight:600;min-height:44px;cursor:pointer}",
      ".slw-log{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:.4rem}",
      ".slw-msg{padding:.45rem .7rem;border-radius:10px;max-width:85%;white-space:pre-wrap;word-wrap:break-word}",
      ".slw-customer{align-self:flex-end;background:#e8eefc}.slw-worker{align-self:flex-start;background:#f1f3f7}",
      ".slw-system{align-self:center;color:#5b6477;font-size:.9em}.slw-pending{opacity:.6}",
      ".slw-notice{background:#fff4e0;color:#6b3f00;border-radius:8px;padding:.5rem .7rem;margin:.4rem 0}",
      ".slw-status{color:#5b6477;font-size:.9em;min-height:1.3em;padding:0 1rem}",
      ".slw-compose{display:flex;gap:.4rem;padding:.6rem;border-top:1px solid #dfe3ec}.slw-compose textarea{resize:none;height:44px}",
      ".slw-rating fieldset{border:0;padding:0;margin:0;display:flex;gap:.6rem;flex-wrap:wrap}"
    ].join("");
    document.head.appendChild(style);
  }

  // --- UI ------------------------------------------------------------------------------------
  var root, body, log, statusLine, typingLine, compose, input, noticeBox;

  function build(container) {
    root = el("section", { "class": "slw" + (container ? "" : " slw-floating"), "aria-label": "Chat with support" });
    root.appendChild(el("header", {}, "Chat with us"));
    body = el("div", { "class": "slw-body" });
    noticeBox = el("div", { "aria-live": "polite" });
    log = el("ol", { "class": "slw-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    body.appendChild(noticeBox);
    body.appendChild(log);
    statusLine = el("p", { "class": "slw-status", role: "status", "aria-live": "polite" });
    typingLine = el("p", { "class": "slw-status", "aria-live": "off" });
    root.appendChild(body);
    root.appendChild(statusLine);
    root.appendChild(typingLine);
    (container || document.body).appendChild(root);
  }

  function notice(text) {
    noticeBox.textContent = "";
    if (text) noticeBox.appendChild(el("p", { "class": "slw-notice" }, text));
  }

  function ordinal(n) {
    var s = ["th", "st", "nd", "rd"], v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  function preChatForm() {
    var form = el("form", { "class": "slw-prechat", novalidate: "" });
    function field(id, label, control) {
      form.appendChild(el("label", { "for": id }, label));
      control.id = id;
      control.name = id.replace("slw-", "");
      control.required = true;
      form.appendChild(control);
      return control;
    }
    field("slw-name", "Your name", el("input", { autocomplete: "name", maxlength: "200" }));
    field("slw-email", "Email", el("input", { type: "email", autocomplete: "email", maxlength: "254" }));
    var lang = field("slw-language", "Language", el("select"));
    LANGUAGES.forEach(function (l) { lang.appendChild(el("option", { value: l[0] }, l[1])); });
    var browserLang = (navigator.language || "en").slice(0, 2);
    if (LANGUAGES.some(function (l) { return l[0] === browserLang; })) lang.value = browserLang;
    var topic = field("slw-topic", "Topic", el("select"));
    topics.forEach(function (t) { topic.appendChild(el("option", { value: t }, t.charAt(0).toUpperCase() + t.slice(1))); });
    field("slw-message", "How can we help?", el("textarea", { rows: "3", maxlength: "4000" }));
    var error = el("p", { "class": "slw-notice", role: "alert", hidden: "" });
    form.appendChild(error);
    form.appendChild(el("button", { type: "submit" }, "Start chat"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = {};
      ["name", "email", "language", "topic", "message"].forEach(function (k) { data[k] = form.elements[k].value; });
      if (script.getAttribute("data-customer-id")) {
        data.customer_id = script.getAttribute("data-customer-id");
        data.customer_signature = script.getAttribute("data-customer-signature") || "";
      }
      api("POST", "/api/v1/tickets/", data).then(function (res) {
        if (res.status !== 201) {
          error.hidden = false;
          error.textContent = res.body.code === "rate_limited" ? "Too many chats opened; try again in a minute."
            : "Please check: " + Object.keys(res.body.fields || {}).join(", ");
          return;
        }
        form.remove();
        start(res.body.id, res.body.token, 0, res.body.status);
        if (res.body.status === "queued") {
          if (!res.body.agents_online) notice("We are offline right now. Leave a message and we will answer here.");
          else showPosition(res.body.queue_position);
        }
      });
    });
    body.insertBefore(form, log);
    form.elements.name.focus();
  }

  function composer() {
    compose = el("form", { "class": "slw-compose" });
    var label = el("label", { "for": "slw-input", "class": "slw-visually-hidden", style: "position:absolute;left:-999px" }, "Message");
    input = el("textarea", { id: "slw-input", maxlength: "4000", placeholder: "Write a message…" });
    compose.appendChild(label);
    compose.appendChild(input);
    compose.appendChild(el("button", { type: "submit" }, "Send"));
    compose.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value;
      if (!text.trim()) return;
      input.value = "";
      send(text);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); compose.requestSubmit(); }
    });
    input.addEventListener("input", function () {
      var now = Date.now();
      if (now - state.lastTyping > 2000 && state.ws && state.ws.readyState === 1) {
        state.lastTyping = now;
        state.ws.send(JSON.stringify({ type: "typing" }));
      }
    });
    root.appendChild(compose);
  }

  function render(message) {
    if (state.shown[message.seq]) return;
    state.shown[message.seq] = true;
    var pendingNode = message.client_id && state.pending[message.client_id] && state.pending[message.client_id].node;
    if (pendingNode) {
      pendingNode.classList.remove("slw-pending");
      pendingNode.setAttribute("data-seq", message.seq);
      delete state.pending[message.client_id];
      return;
    }
    var who = message.sender === "customer" ? "You" : message.sender === "worker" ? "Agent" : "Shiftline";
    var item = el("li", { "class": "slw-msg slw-" + message.sender, "data-seq": String(message.seq) });
    item.appendChild(el("span", { "class": "slw-visually-hidden", style: "position:absolute;left:-999px" }, who + ": "));
    item.appendChild(document.createTextNode(message.body));
    log.appendChild(item);
    body.scrollTop = body.scrollHeight;
  }

  function accept(message) {
    if (message.seq <= state.lastSeq) return;
    if (message.seq > state.lastSeq + 1) {
      // A gap (the live layer is at-most-once): the database has every message.
      catchUp();
      return;
    }
    render(message);
    state.lastSeq = message.seq;
    save();
  }

  function showPosition(position) {
    if (position > 0) statusLine.textContent = "You are " + ordinal(position) + " in the queue.";
  }

  // --- Server --------------------------------------------------------------------------------
  function api(method, path, data) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers["X-Ticket-Token"] = state.token;
    return fetch(base + path, { method: method, headers: headers, credentials: "omit",
      body: data === undefined ? undefined : JSON.stringify(data) })
      .then(function (res) { return res.json().catch(function () { return {}; }).then(function (b) { return { status: res.status, body: b }; }); });
  }

  function catchUp() {
    return api("GET", "/api/v1/tickets/" + state.ticket + "/messages/?page_size=500&after=" + state.lastSeq).then(function (res) {
      if (res.status !== 200) return;
      res.body.results.forEach(function (m) {
        if (m.seq > state.lastSeq) { render(m); state.lastSeq = m.seq; }
      });
      save();
    });
  }

  function connect() {
    var scheme = base.indexOf("https:") === 0 ? "wss:" : "ws:";
    var url = scheme + "//" + new URL(base).host + "/ws/tickets/" + state.ticket + "/?token=" +
      encodeURIComponent(state.token) + "&after=" + state.lastSeq;
    var ws = new WebSocket(url);
    state.ws = ws;
    ws.onopen = function () {
      state.retries = 0;
      stopPolling();
      Object.keys(state.pending).forEach(function (id) {
        ws.send(JSON.stringify({ type: "message", body: state.pending[id].body, client_id: id }));
      });
    };
    ws.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.type === "message") accept(data);
      else if (data.type === "queue.position") showPosition(data.position);
      else if (data.type === "ticket.assigned") { statusLine.textContent = "You are chatting with an agent."; notice(""); }
      else if (data.type === "typing") typing();
      else if (data.type === "ticket.resolved") resolved();
      else if (data.type === "ticket.transferred") statusLine.textContent = "Connecting you with another agent…";
      else if (data.type === "error") statusLine.textContent = data.detail;
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      state.retries += 1;
      if (state.retries >= 3) startPolling();
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, state.retries)));
    };
  }

  function startPolling() {
    if (state.polling) return;
    statusLine.textContent = "Reconnecting…";
    state.polling = setInterval(catchUp, 3000);
  }

  function stopPolling() {
    if (state.polling) { clearInterval(state.polling); state.polling = null; }
  }

  function send(text) {
    var id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
    var node = el("li", { "class": "slw-msg slw-customer slw-pending" });
    node.textContent = text;
    log.appendChild(node);
    body.scrollTop = body.scrollHeight;
    state.pending[id] = { body: text, node: node };
    if (state.ws && state.ws.readyState === 1) {
      state.ws.send(JSON.stringify({ type: "message", body: text, client_id: id }));
    } else {
      // HTTP fallback; the same client_id makes a later socket re-send harmless.
      api("POST", "/api/v1/tickets/" + state.ticket + "/messages/", { body: text, client_id: id }).then(function (res) {
        if (res.status === 200 || res.status === 201) accept(res.body);
      });
    }
  }

  function typing() {
    typingLine.textContent = "The agent is typing…";
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { typingLine.textContent = ""; }, 3000);
  }

  function resolved() {
    statusLine.textContent = "";
    notice("Your case has been resolved. Thank you for contacting us.");
    if (body.querySelector(".slw-rating")) return;
    var form = el("form", { "class": "slw-rating" });
    var set = el("fieldset");
    set.appendChild(el("legend", {}, "How did we do? (1 = poor, 5 = great)"));
    for (var i = 1; i <= 5; i++) {
      var label = el("label", {});
      var radio = el("input", { type: "radio", name: "score", value: String(i), "aria-label": i + " out of 5" });
      label.appendChild(radio);
      label.appendChild(document.createTextNode(" " + i));
      set.appendChild(label);
    }
    form.appendChild(set);
    form.appendChild(el("label", { "for": "slw-comment" }, "Comment (optional)"));
    form.appendChild(el("textarea", { id: "slw-comment", name: "comment", rows: "2", maxlength: "2000" }));
    form.appendChild(el("button", { type: "submit" }, "Send rating"));
    var reopen = el("button", { type: "button", "class": "slw-reopen" }, "Reopen this chat");
    form.appendChild(reopen);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var score = form.querySelector("input[name=score]:checked");
      if (!score) return;
      api("POST", "/api/v1/tickets/" + state.ticket + "/rating/", { score: Number(score.value), comment: form.elements.comment.value })
        .then(function (res) {
          if (res.status === 201) { set.disabled = true; notice("Thanks for your rating!"); form.querySelector("button[type=submit]").remove(); }
        });
    });
    reopen.addEventListener("click", function () {
      api("POST", "/api/v1/tickets/" + state.ticket + "/reopen/").then(function (res) {
        if (res.status === 200) {
          form.remove();
          notice("");
          statusLine.textContent = res.body.status === "assigned" ? "You are chatting with an agent." : "";
          showPosition(res.body.queue_position || 0);
        } else {
          notice(res.body.detail || "This chat can no longer be reopened.");
        }
      });
    });
    body.appendChild(form);
  }

  function save() {
    try {
      localStorage.setItem(STORE, JSON.stringify({ ticket: state.ticket, token: state.token, lastSeq: state.lastSeq }));
    } catch (e) { /* private mode: resume only within this page */ }
  }

  function start(ticket, token, lastSeq, status) {
    state.ticket = ticket; state.token = token; state.lastSeq = 0; state.status = status;
    save();
    composer();
    connect();
    if (status === "resolved") resolved();
  }

  function resume() {
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.ticket) return false;
    state.token = saved.token;
    state.ticket = saved.ticket;
    api("GET", "/api/v1/tickets/" + saved.ticket + "/").then(function (res) {
      if (res.status !== 200 || res.body.status === "abandoned") {
        localStorage.removeItem(STORE);
        state.token = null;
        preChatForm();
        return;
      }
      start(saved.ticket, saved.token, 0, res.body.status);
      if (res.body.status === "queued") showPosition(res.body.queue_position);
    });
    return true;
  }

  function init() {
    css();
    var container = mode === "inline" ? document.getElementById("shiftline-chat") : null;
    if (container) {
      build(container);
      if (!resume()) preChatForm();
      return;
    }
    var launch = el("button", { "class": "slw-launch", type: "button", "aria-expanded": "false" }, "Chat with us");
    document.body.appendChild(launch);
    launch.addEventListener("click", function () {
      if (!root) { build(null); if (!resume()) preChatForm(); }
      else root.hidden = !root.hidden;
      launch.setAttribute("aria-expanded", String(!root.hidden));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
