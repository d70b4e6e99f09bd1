// Polling only while the page is visible: an htmx poll ("hx-trigger=every N s") that comes due
// while the tab is hidden is cancelled before it is sent, and counted in `data-poll-paused`; htmx keeps
// its timer, so the first turn after the tab shows again asks as usual. No eval: htmx trigger
// filters (`every 3s [document.visibilityState === 'visible']`) would need it under the CSP.
document.addEventListener("htmx:beforeRequest", (evt) => {
  const elt = evt.detail.elt;
  if (!elt || !/\bevery\s/.test(elt.getAttribute("hx-trigger") || "")) return;
  if (document.hidden) {
    elt.dataset.pollPaused = String(Number(elt.dataset.pollPaused || 0) + 1);
    evt.preventDefault();
  } else {
    delete elt.dataset.pollPaused;
  }
});
