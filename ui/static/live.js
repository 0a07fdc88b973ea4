// Live updates for the board and the service page, without reloads.
// Fetches the server-rendered fragment named by #live[data-fragment] every
// second and swaps it in only when it changed, so nothing flickers. Kept in
// a static file because the Content-Security-Policy forbids inline scripts.
// It sends the ETag of what it shows: an unchanged fragment comes back as an
// empty 304, so an open tab costs no bytes while nothing happens.
(function () {
  "use strict";
  var PERIOD_MS = 1000;
  var root = document.getElementById("live");
  var offline = document.getElementById("ui-offline");
  if (!root || !root.dataset.fragment) { return; }
  var url = root.dataset.fragment;
  var last = null;
  var etag = null;

  function showOffline(message) {
    if (!offline) { return; }
    if (message) {
      offline.textContent = "⚠ lost contact with the board server (" + message + "); showing the last view";
      offline.hidden = false;
    } else {
      offline.hidden = true;
    }
  }

  function tick() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(url, { cache: "no-store", credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.status === 304) { return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (html !== null && html !== last) {
          root.innerHTML = html;   // server-rendered and escaped by Jinja
          last = html;
        }
        showOffline("");
      })
      .catch(function (err) { showOffline(String(err && err.message || err)); })
      .then(function () { window.setTimeout(tick, PERIOD_MS); });
  }

  window.setTimeout(tick, PERIOD_MS);
})();
