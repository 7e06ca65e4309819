// Tell the server the browser's timezone (cookie `tz`), so pages write times in the viewer's
// zone. The first page a browser opens was rendered before the cookie existed: when its zone is
// not the browser's, reload once (a profile zone, which wins on the server, does not loop: the
// cookie is there on the second load).
const script = document.querySelector("script[data-rendered-zone]");
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone) {
  const had = document.cookie.split("; ").some((c) => c.startsWith("tz="));
  document.cookie = `tz=${zone}; path=/; max-age=31536000; SameSite=Lax`;  // IANA names are cookie-safe
  if (!had && script && script.dataset.renderedZone !== zone) window.location.reload();
}
