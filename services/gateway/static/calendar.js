// chequered live timing page: the "next event" box, shown while no session is live.
// Reads ?championship= (default: the championship of the page's session, else the first with a calendar),
// ?tz= (default: the circuit's zone), ?lang= (default: the browser's language) and ?at= (default: now).
// "No session is live": the calendar lists none live now, and the session on the tower is not running.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const box = document.getElementById("next-event");
  const EVERY_MS = 60000;
  const RUNNING = ["running", "finishing"];
  let last = null;

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  const get = (path) => fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

  async function championship() {
    if (params.get("championship")) return params.get("championship");
    const session = params.get("session") || document.body.dataset.session;
    if (session) return session.split(".")[0];
    const response = await get("/api/calendar");
    return response.ok ? (await response.json()).championships[0] || null : null;
  }

  async function fetchNext(name) {
    const query = new URLSearchParams({ lang: params.get("lang") || navigator.language || "en" });
    for (const key of ["tz", "at"]) if (params.get(key)) query.set(key, params.get(key));
    const path = (q) => `/api/calendar/${encodeURIComponent(name)}/next?${q}`;
    let response = await get(path(query));
    if (response.status === 400 && !params.get("lang")) {
      query.set("lang", "en"); // a browser language the calendar does not know
      response = await get(path(query));
    }
    return response.ok ? response.json() : null;
  }

  function render() {
    const next = last;
    const shown = Boolean(next && next.round && next.live.length === 0 && !RUNNING.includes(document.body.dataset.phase));
    box.hidden = !shown;
    box.dataset.shown = String(shown);
    if (!shown) return;
    const round = next.round;
    const rows = round.sessions
      .map((s) => `<tr class="ne-${esc(s.state)}" data-key="${esc(s.key)}">
          <td class="ne-when">${esc(s.window)}</td><td>${esc(s.name)}</td><td class="ne-note">${esc(s.note)}</td></tr>`)
      .join("");
    box.innerHTML = `<h2>${esc(next.heading)} · ${esc(next.name)}</h2>
      <div class="ne-round">${esc(round.name)}</div>
      <div class="ne-meta">${esc(round.dates)} · ${esc(round.circuit)} · ${esc(round.zone)}</div>
      <table class="ne-sessions">${rows}</table>`;
  }

  async function refresh() {
    try {
      const name = await championship();
      last = name ? await fetchNext(name) : null;
    } catch {
      last = null;
    }
    render();
  }

  new MutationObserver(render).observe(document.body, { attributes: true, attributeFilter: ["data-phase"] });
  refresh();
  setInterval(refresh, EVERY_MS);
})();
