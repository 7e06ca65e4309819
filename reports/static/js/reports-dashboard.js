// Finance and ops dashboards: draws the charts with plotly.js (served from the pinned `plotly`
// package) from the JSON the page embeds, which the report selectors produced on the server.
(function () {
  "use strict";

  const source = document.getElementById("report-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const currency = (data.currency || "").toUpperCase();
  const zeroDecimal = new Set(["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]);
  const major = (minor) => (minor === null || minor === undefined ? null : zeroDecimal.has(currency) ? minor : minor / 100);

  const layout = (yTitle, extra) => Object.assign({
    margin: { l: 56, r: 16, t: 8, b: 48 },
    height: 280,
    yaxis: { title: { text: yTitle }, rangemode: "tozero", automargin: true },
    xaxis: { automargin: true },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: "system-ui, sans-serif", color: "#14213d" },
    showlegend: false,
  }, extra || {});
  const config = { displaylogo: false, responsive: true };
  const brand = "#1d4ed8";

  function draw(id, traces, chartLayout) {
    const element = document.getElementById(id);
    if (!element) return;
    window.Plotly.newPlot(element, traces, chartLayout, config).then(() => {
      element.dataset.rendered = "true";
    });
  }

  function render() {
    const byDay = data.by_day || [];
    const days = byDay.map((row) => row.date);

    if (data.payouts_per_week) {
      draw("chart-payouts-week", [{
        type: "bar", marker: { color: brand },
        x: data.payouts_per_week.map((row) => row.week),
        y: data.payouts_per_week.map((row) => major(row.paid)),
        customdata: data.payouts_per_week.map((row) => row.payouts_count),
        hovertemplate: "Week of %{x}<br>%{y:.2f} " + currency + " in %{customdata} payouts<extra></extra>",
      }], layout(currency, { xaxis: { title: { text: "Week starting" }, type: "date" } }));
    }
    draw("chart-cost-per-case", [{
      type: "scatter", mode: "lines+markers", connectgaps: false, line: { color: brand },
      x: days, y: byDay.map((row) => major(row.cost_per_resolved_case)),
      hovertemplate: "%{x}<br>%{y:.2f} " + currency + " per case<extra></extra>",
    }], layout(currency + " per case", { xaxis: { type: "date" } }));
    draw("chart-csat", [{
      type: "scatter", mode: "lines+markers", connectgaps: false, line: { color: "#0f7b3f" },
      x: days, y: byDay.map((row) => row.csat_average),
      hovertemplate: "%{x}<br>CSAT %{y:.2f}<extra></extra>",
    }], layout("Average rating", { xaxis: { type: "date" }, yaxis: { range: [0, 5.2], title: { text: "Average rating" } } }));
    draw("chart-frt", [{
      type: "bar", marker: { color: "#9a5b00" },
      x: (data.first_response_distribution || []).map((row) => row.bucket),
      y: (data.first_response_distribution || []).map((row) => row.count),
      hovertemplate: "%{x}: %{y} tickets<extra></extra>",
    }], layout("Tickets", { xaxis: { title: { text: "Time to first response" }, type: "category" } }));
    draw("chart-hourly", [{
      type: "bar", marker: { color: "#5b6477" },
      x: (data.by_hour || []).map((row) => row.hour),
      y: (data.by_hour || []).map((row) => row.tickets_created),
      hovertemplate: "%{x}:00 UTC: %{y} tickets<extra></extra>",
    }], layout("Tickets created", { xaxis: { title: { text: "Hour (UTC)" }, dtick: 2 } }));
    draw("chart-volume", [
      { type: "bar", name: "Created", x: days, y: byDay.map((row) => row.tickets_created), marker: { color: brand } },
      { type: "bar", name: "Resolved", x: days, y: byDay.map((row) => row.tickets_resolved), marker: { color: "#0f7b3f" } },
      { type: "bar", name: "Abandoned", x: days, y: byDay.map((row) => row.tickets_abandoned), marker: { color: "#b42318" } },
    ], layout("Tickets", { barmode: "group", showlegend: true, legend: { orientation: "h" }, xaxis: { type: "date" } }));
  }

  function runReconciliation(button) {
    const status = document.getElementById("reconciliation-status");
    button.disabled = true;
    status.textContent = "Checking the ledger against Stripe…";
    fetch(button.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) throw new Error(body.detail || "The reconciliation failed.");
        window.location.reload();
      })
      .catch((error) => {
        status.textContent = error.message;
        button.disabled = false;
      });
  }

  document.querySelectorAll("[data-run-reconciliation]").forEach((button) => {
    button.addEventListener("click", () => runReconciliation(button));
  });

  if (window.Plotly) {
    render();
  } else {
    window.addEventListener("load", () => {
      if (window.Plotly) render();
    });
  }
})();

// Large exports: start a background export, show its progress, then offer the download link.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function poll(statusUrl, bar, status, box) {
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => response.json())
      .then((body) => {
        bar.value = body.progress || 0;
        if (body.status === "done") {
          status.innerHTML = "";
          const link = document.createElement("a");
          link.href = body.download_url;
          link.textContent = "Download the CSV (" + body.rows_total + " rows)";
          link.id = "export-download";
          status.appendChild(link);
          box.querySelector("label").textContent = "Export ready";
        } else if (body.status === "failed") {
          status.textContent = "The export failed: " + (body.error || "unknown error");
        } else {
          status.textContent = (body.rows_done || 0) + " of " + (body.rows_total || "?") + " rows";
          window.setTimeout(() => poll(statusUrl, bar, status, box), 1000);
        }
      })
      .catch(() => window.setTimeout(() => poll(statusUrl, bar, status, box), 3000));
  }

  document.querySelectorAll("[data-export-url]").forEach((button) => {
    button.addEventListener("click", () => {
      const box = document.getElementById("export-progress");
      const bar = document.getElementById("export-bar");
      const status = document.getElementById("export-status");
      button.disabled = true;
      box.hidden = false;
      fetch(button.dataset.exportUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ kind: "earnings", from: button.dataset.exportFrom, to: button.dataset.exportTo }),
      })
        .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
        .then(({ ok, body }) => {
          if (!ok) throw new Error(body.detail || "The export could not start.");
          poll(body.status_url, bar, status, box);
        })
        .catch((error) => {
          status.textContent = error.message;
          button.disabled = false;
        });
    });
  });
})();
