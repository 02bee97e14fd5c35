// The console's only script: pages follow changes without reloading. Every few seconds the
// page's own URL is fetched again and each element marked data-live is swapped for its new
// version (same id); forms are never inside one, so nothing typed is lost.
(function () {
  "use strict";
  var every = parseInt(document.body.getAttribute("data-poll") || "0", 10);
  var state = document.getElementById("live-state");
  if (!every || !window.fetch || !window.DOMParser) {
    if (state) { state.textContent = "static page"; }
    return;
  }
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, {credentials: "same-origin", cache: "no-store",
                                 headers: {"X-Console-Live": "1"}})
      .then(function (reply) {
        if (!reply.ok) { throw new Error("HTTP " + reply.status); }
        return reply.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (old) {
          var next = old.id && fresh.getElementById(old.id);
          if (next && next.innerHTML !== old.innerHTML) { old.innerHTML = next.innerHTML; }
        });
        if (state) { state.textContent = "live, updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function (err) {
        if (state) { state.textContent = "not updated: " + err.message; }
      })
      .finally(function () { busy = false; });
  }
  window.setInterval(refresh, every);
})();
