/* Shipmate dashboard: live updates without a reload.
 *
 * The element marked data-poll (the page's main content) is fetched again every few seconds
 * with the header X-Shipmate-Fragment, to which a page answers with its content alone, and
 * swapped in place when it changed (so an opened <details> stays open until there is news).
 * Nothing is fetched while the tab is hidden or while someone is typing in one of its fields.
 * Without JavaScript every page is complete as served; reload to refresh.
 */
(function () {
  "use strict";
  var live = document.querySelector("[data-poll]");
  if (!live || !window.fetch) {
    return;
  }
  var every = parseInt(live.getAttribute("data-poll"), 10) || 5000;
  var shown = live.innerHTML.trim();

  function typing() {
    var active = document.activeElement;
    return active && live.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  function later() {
    window.setTimeout(tick, every);
  }

  function tick() {
    if (document.hidden || typing()) {
      later();
      return;
    }
    window.fetch(window.location.href, {
      headers: { "X-Shipmate-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        live.removeAttribute("data-stale");
        if (html.trim() === shown) {
          return;
        }
        live.innerHTML = html;
        shown = html.trim();
        live.setAttribute("data-updated", new Date().toISOString());
      })
      .catch(function () {
        live.setAttribute("data-stale", "true");
      })
      .then(later);
  }

  document.documentElement.classList.add("js");
  later();
})();
