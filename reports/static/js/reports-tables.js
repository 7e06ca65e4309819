// Sortable report tables: a button in each header sorts the body by that column (numbers by
// their `data-value`, text otherwise); aria-sort tells screen readers the current order.
(function () {
  "use strict";

  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return "";
    return cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  }

  function compare(a, b) {
    const x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    if (a === "") return 1;
    if (b === "") return -1;
    return String(a).localeCompare(String(b));
  }

  function sortBy(table, header) {
    const headers = Array.from(header.parentElement.children);
    const index = headers.indexOf(header);
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    headers.forEach((th) => th.removeAttribute("aria-sort"));
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter((row) => row.cells.length > 1);
    rows.sort((r1, r2) => {
      const result = compare(cellValue(r1, index), cellValue(r2, index));
      return ascending ? result : -result;
    });
    rows.forEach((row) => body.appendChild(row));
  }

  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th) => {
      const button = th.querySelector("button.sort");
      if (button) button.addEventListener("click", () => sortBy(table, th));
    });
  });
})();
