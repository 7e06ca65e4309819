// Apply page, progressively enhanced (without JavaScript the pickers are plain checkbox lists):
// - the timezone starts as the browser's own;
// - each checkbox picker gets a search box that filters its options as you type (Enter ticks the
//   only match), and the ticked options listed above it, each with a button to remove it.
(function () {
  "use strict";

  const zoneSelect = document.getElementById("id_timezone");
  if (zoneSelect) {
    let zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (error) { zone = ""; }
    if (zoneSelect.value === "UTC" && zone && zoneSelect.querySelector('option[value="' + zone + '"]')) {
      zoneSelect.value = zone;
    }
  }

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }

  function enhance(fieldset) {
    const name = fieldset.dataset.picker;
    const options = fieldset.querySelector(".picker-options");
    const labels = Array.from(options.querySelectorAll("label"));
    if (labels.length <= 8) options.dataset.few = "true";

    const chosen = document.createElement("ul");
    chosen.className = "picker-chosen";
    chosen.setAttribute("aria-label", "Chosen " + name);
    const searchLabel = document.createElement("label");
    searchLabel.htmlFor = "search_" + name;
    searchLabel.textContent = "Search " + name;
    const search = document.createElement("input");
    search.type = "search";
    search.id = "search_" + name;
    search.className = "picker-search";
    search.autocomplete = "off";
    search.setAttribute("aria-controls", options.id);
    search.setAttribute("aria-describedby", "count_" + name);
    const count = document.createElement("p");
    count.id = "count_" + name;
    count.className = "muted";
    count.setAttribute("aria-live", "polite");
    const none = document.createElement("p");
    none.className = "muted picker-none";
    none.textContent = "No " + name + " match; try another spelling.";

    options.before(searchLabel, search, count, chosen);
    options.after(none);

    function labelText(label) { return label.textContent.trim(); }

    function renderChosen() {
      chosen.textContent = "";
      labels.forEach(function (label) {
        const box = label.querySelector("input");
        if (!box.checked) return;
        const item = document.createElement("li");
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = labelText(label) + " ×";
        remove.setAttribute("aria-label", "Remove " + labelText(label));
        remove.addEventListener("click", function () {
          box.checked = false;
          renderChosen();
          search.focus();
        });
        item.appendChild(remove);
        chosen.appendChild(item);
      });
      const ticked = chosen.childElementCount;
      count.textContent = ticked ? ticked + " chosen." : "None chosen yet.";
    }

    function filter() {
      const query = fold(search.value);
      let shown = 0;
      labels.forEach(function (label) {
        const match = !query || fold(labelText(label)).indexOf(query) !== -1 ||
          label.querySelector("input").value === query;
        label.hidden = !match;
        if (match) shown += 1;
      });
      none.style.display = shown ? "none" : "block";
      return shown;
    }

    search.addEventListener("input", filter);
    search.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();  // Enter in the search box never submits the application
      const visible = labels.filter(function (label) { return !label.hidden; });
      if (visible.length === 1) {
        const box = visible[0].querySelector("input");
        box.checked = !box.checked;
        renderChosen();
        search.value = "";
        filter();
      }
    });
    options.addEventListener("change", renderChosen);
    renderChosen();
  }

  document.querySelectorAll("fieldset[data-picker]").forEach(enhance);
})();
