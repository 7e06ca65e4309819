// Shared by every page. A table too wide for the screen scrolls inside its `.table-wrap`; such a
// region must be reachable from the keyboard (WCAG 2.1.1), so each becomes a named, focusable region.
(function () {
  "use strict";
  document.querySelectorAll(".table-wrap:not([tabindex])").forEach(function (wrap) {
    const caption = wrap.querySelector("caption");
    let heading = null;
    for (let node = wrap.previousElementSibling; node && !heading; node = node.previousElementSibling) {
      if (/^H[1-6]$/.test(node.tagName)) heading = node;
    }
    if (!heading) {
      const section = wrap.closest("section");
      heading = section && section.querySelector("h1, h2, h3");
    }
    const name = (caption || heading || {}).textContent;
    wrap.setAttribute("tabindex", "0");
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", (name || "Table").trim());
  });
})();
