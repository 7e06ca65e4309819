// Finance payouts page: start a run through the API and show its progress until it finishes.
// Without JavaScript the form posts to the page itself, which starts the run and shows ?run=<id>.

const form = document.getElementById("start-run-form");
const panel = document.getElementById("run-progress");
const button = document.getElementById("start-run");

function csrfToken() {
  return form.querySelector("input[name=csrfmiddlewaretoken]").value;
}

function show(run) {
  panel.hidden = false;
  for (const el of panel.querySelectorAll("[data-field]")) {
    const name = el.dataset.field;
    if (name === "bar") {
      el.max = Math.max(run.payouts_count, 1);
      el.value = run.paid_count + run.failed_count;
    } else if (name in run) {
      el.textContent = run[name];
    }
  }
}

async function follow(runId) {
  for (;;) {
    const response = await fetch(`/api/v1/payouts/runs/${runId}/`, { credentials: "same-origin" });
    if (!response.ok) return;
    const run = await response.json();
    show(run);
    if (run.status === "completed" || run.status === "failed") {
      button.disabled = false;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  const response = await fetch(form.dataset.api, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json" },
    body: "{}",
  });
  if (response.status !== 202) {
    button.disabled = false;
    panel.hidden = false;
    panel.querySelector("[data-field=status]").textContent = `could not start (${response.status})`;
    return;
  }
  const run = await response.json();
  history.replaceState(null, "", `?run=${run.id}`);
  show({ ...run, payouts_count: 0, paid_count: 0, failed_count: 0, in_transit_count: 0, pending_count: 0, total: 0 });
  follow(run.id);
});

if (panel.dataset.run) follow(panel.dataset.run);
