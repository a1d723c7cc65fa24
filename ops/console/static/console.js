// The jobs list redraws its rows and counts from /ui/jobs.json every few seconds,
// without reloading the page. Nothing else: every page works without this script.
"use strict";
(function () {
  const table = document.getElementById("jobs");
  if (!table) return;
  const rows = document.getElementById("job-rows");
  const counts = document.getElementById("counts");
  const stamp = document.getElementById("refreshed");
  const every = 3000;
  async function refresh() {
    try {
      const answer = await fetch(table.dataset.refresh, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (answer.status === 401) {
        stamp.textContent = "(signed out: reload to sign in)";
        return;
      }
      if (!answer.ok) throw new Error(String(answer.status));
      const page = await answer.json();
      rows.innerHTML = page.rows;
      counts.innerHTML = page.counts;
      stamp.textContent = "(updated " + new Date().toLocaleTimeString() + ")";
    } catch (err) {
      stamp.textContent = "(could not refresh: " + err.message + ")";
    }
    setTimeout(refresh, every);
  }
  setTimeout(refresh, every);
})();
