// Audit trail page: on the first visit (no timezone chosen yet), show times in the browser's timezone.
(function () {
  "use strict";
  var select = document.getElementById("audit-tz");
  if (!select || select.getAttribute("data-chosen") === "yes") return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || zone === select.value) return;
  var known = Array.prototype.some.call(select.options, function (option) { return option.value === zone; });
  if (!known) return;
  var params = new URLSearchParams(location.search);
  params.set("tz", zone);
  location.replace(location.pathname + "?" + params.toString());
})();
