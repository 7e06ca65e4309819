// Buttons marked data-print open the browser's print dialog (kept out of the HTML: the CSP allows
// no inline handlers).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) window.print();
});
