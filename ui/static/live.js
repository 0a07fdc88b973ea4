// Live updates for the board and the service page, without reloads.
// Fetches the server-rendered fragment named by #live[data-fragment] every
// second and swaps it in only when it changed, so nothing flickers. Kept in
// a static file because the Content-Security-Policy forbids inline scripts.
// It sends the ETag of what it shows: an unchanged fragment comes back as an
// empty 304, so an open tab costs no bytes while nothing happens.
// A page names moments (<time data-t>, ui/ages.py); this script shows them as
// ages ("12 s", "3 s ago") every second, on the board's clock: every answer
// says the board's time (X-Overseer-Now) and its last etcd read
// (X-Overseer-Read-At, the moment a live server was last seen: data-read).
(function () {
  "use strict";
  var PERIOD_MS = 1000;
  var root = document.getElementById("live");
  var offline = document.getElementById("ui-offline");
  var skew = 0;          // board clock minus browser clock, seconds
  var readAt = null;     // the board's last good etcd read
  if (!root || !root.dataset.fragment) { return; }
  var url = root.dataset.fragment;
  var last = null;
  var etag = null;

  function age(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    if (s < 60) { return s + " s"; }
    if (s < 3600) {
      var m = Math.floor(s / 60);
      return (s < 600 && s % 60) ? m + " min " + (s % 60) + " s" : m + " min";
    }
    if (s < 86400) {
      var h = Math.floor(s / 3600), hm = Math.floor((s % 3600) / 60);
      return hm ? h + " h " + hm + " min" : h + " h";
    }
    var d = Math.floor(s / 86400), dh = Math.floor((s % 86400) / 3600);
    return dh ? d + " d " + dh + " h" : d + " d";
  }

  function showAges() {
    var now = Date.now() / 1000 + skew;
    var nodes = root.querySelectorAll("time.age");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var t = node.dataset.read ? readAt : parseFloat(node.dataset.t);
      if (t === null || isNaN(t)) { continue; }
      var text = age(now - t) + (node.dataset.form === "ago" ? " ago" : "");
      if (node.textContent !== text) { node.textContent = text; }
    }
  }

  function learnClock(response) {
    var now = parseFloat(response.headers.get("X-Overseer-Now"));
    if (!isNaN(now)) { skew = now - Date.now() / 1000; }
    var read = parseFloat(response.headers.get("X-Overseer-Read-At"));
    readAt = isNaN(read) ? null : read;
  }

  function showOffline(message) {
    if (!offline) { return; }
    if (message) {
      offline.textContent = "⚠ lost contact with the board server (" + message + "); showing the last view";
      offline.hidden = false;
    } else {
      offline.hidden = true;
    }
  }

  function tick(first) {
    // The first ask only learns the board's clock: "*" matches what the page
    // already shows, so it is an empty 304 and nothing is swapped.
    var headers = first ? { "If-None-Match": "*" } : (etag ? { "If-None-Match": etag } : {});
    fetch(url, { cache: "no-store", credentials: "same-origin", headers: headers })
      .then(function (response) {
        learnClock(response);
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
        showAges();
        showOffline("");
      })
      .catch(function (err) { showOffline(String(err && err.message || err)); })
      .then(function () { window.setTimeout(tick, PERIOD_MS); });
  }

  tick(true);   // at once: it brings the board's clock, which the ages need
})();
