// Apply page: preselect the applicant's timezone from the browser when none is chosen yet.
(function () {
  "use strict";
  const select = document.getElementById("id_timezone");
  if (!select || select.dataset.touched) return;
  let zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (error) { return; }
  if (select.value === "UTC" && zone && select.querySelector('option[value="' + zone + '"]')) select.value = zone;
})();
