// Finance payouts page: start a run through the API, show its counts while it works, then load
// the page for that run, where the server writes the totals as money and who was left out and why.
// Without JavaScript the form posts to the page itself, which starts the run and shows ?run=<id>.

const form = document.getElementById("start-run-form");
const panel = document.getElementById("run-progress");
const button = document.getElementById("start-run");
const DONE = ["completed", "failed"];

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
    if (DONE.includes(run.status)) {
      window.location.replace(`${form.dataset.page}?run=${run.id}`);
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
    panel.querySelector("[data-field=status]").textContent = `could not start (error ${response.status})`;
    return;
  }
  const run = await response.json();
  show({ id: `#${run.id}`, status: "starting…" });
  follow(run.id);
});

if (panel.dataset.run && !DONE.includes(panel.dataset.status)) follow(panel.dataset.run);
