// chequered live timing page: vanilla JS, no build step.
// Reads ?session=KEY (default: the most recent session) and ?token=T (needed for every data request).
// The stream is an EventSource: the browser reconnects by itself and resumes with Last-Event-ID;
// if it gives up (the stream was refused), we reopen it with ?since=<last seq> after a pause.
// The first message is a snapshot (the whole classification); each update is a delta from the value before.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const $ = (id) => document.getElementById(id);

  const REOPEN_MS = 2000;
  const MOVE_SHOWN_MS = 8000;
  const STANDINGS_EVERY_MS = 15000;
  const STANDINGS_AFTER_LAP_MS = 1000;
  const CLASS_COLOURS = {
    hypercar: "#e5172f", lmh: "#e5172f", lmdh: "#e5172f", lmp1: "#e5172f",
    lmp2: "#1f6fff", lmp3: "#8b3dff",
    lmgt3: "#00a651", gt3: "#00a651", gte: "#ff8a00", gtepro: "#ff8a00", gteam: "#ff8a00",
    pro: "#1f6fff", "pro-am": "#8b3dff", proam: "#8b3dff", am: "#f2b705", silver: "#9aa5b1", bronze: "#b87333",
  };
  const PALETTE = ["#1f6fff", "#f2b705", "#e5172f", "#00a651", "#8b3dff", "#ff8a00", "#00b8d9", "#ff4fa3"];
  const FLAGS = {
    green: "GREEN FLAG", yellow: "YELLOW", full_course_yellow: "FULL COURSE YELLOW",
    safety_car: "SAFETY CAR", red: "RED FLAG", chequered: "CHEQUERED FLAG", unknown: "NO FLAG",
  };
  const STATES = {
    not_started: ["", ""], running: ["", ""], in_pit: ["PIT", "pit"], out_lap: ["OUT", "out"],
    retired: ["RET", "ret"], finished: ["🏁", "fin"], stopped: ["STOP", "stop"],
  };
  // a result outside the classified group is shown instead of the car's state
  const STATUSES = {
    nc: ["NC", "nc"], dnf: ["DNF", "dnf"], dns: ["DNS", "dns"], dsq: ["DSQ", "dsq"], excluded: ["EXCL", "dsq"],
  };

  const state = {
    session: params.get("session"),
    classification: null,
    lastSeq: null,
    previousPositions: new Map(),
    moves: new Map(),
    classFilter: params.get("class") || "",
    classes: [],
    battle: { a: params.get("a"), b: params.get("b"), chosen: params.has("a") && params.has("b"), lastGap: null, pair: "" },
    source: null,
    standingsAt: 0,
    standingsTimer: null,
  };

  // -- formatting -------------------------------------------------------------

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function lapTime(ms) {
    if (ms === null || ms === undefined) return "";
    const minutes = Math.floor(ms / 60000);
    const rest = ms % 60000;
    return `${minutes}:${String(Math.floor(rest / 1000)).padStart(2, "0")}.${String(rest % 1000).padStart(3, "0")}`;
  }

  function gapText(gap) {
    if (gap === null || gap === undefined) return "";
    if (gap.laps) return `+${gap.laps} lap${gap.laps > 1 ? "s" : ""}`;
    return `+${((gap.ms || 0) / 1000).toFixed(3)}`;
  }

  function clock(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    return `${h}:${String(m).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
  }

  function classColour(name) {
    const known = CLASS_COLOURS[name.toLowerCase().replace(/\s+/g, "")];
    if (known) return known;
    const index = state.classes.indexOf(name);
    return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
  }

  // -- data ---------------------------------------------------------------------

  async function api(path) {
    const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (response.status === 401) throw new Error("unauthorized");
    return response;
  }

  function setConnection(kind, text) {
    $("conn").dataset.state = kind;
    $("conn-text").textContent = text;
  }

  async function chooseSession() {
    let listed = [];
    try {
      const response = await api("/api/sessions");
      listed = (await response.json()).sessions;
    } catch (err) {
      setConnection("error", err.message === "unauthorized" ? "TOKEN NEEDED" : "OFFLINE");
      if (err.message === "unauthorized") {
        $("empty").textContent = "A read token is needed: open this page with ?token=…";
        return;
      }
    }
    const select = $("session-select");
    const keys = listed.map((s) => s.key);
    if (state.session && !keys.includes(state.session)) keys.unshift(state.session);
    select.innerHTML = keys.map((k) => `<option value="${esc(k)}">${esc(k)}</option>`).join("");
    if (!state.session) state.session = keys[0] || null;
    if (!state.session) {
      $("empty").textContent = "No session yet…";
      setTimeout(chooseSession, REOPEN_MS);
      return;
    }
    select.value = state.session;
    document.body.dataset.session = state.session;
    $("analysis-link").href = `/analysis?${new URLSearchParams({ session: state.session, token })}`;
    openStream();
    refreshStandings();
    setInterval(refreshStandings, STANDINGS_EVERY_MS);
  }

  function openStream() {
    if (state.source) state.source.close();
    const query = new URLSearchParams({ token });
    if (state.lastSeq !== null) query.set("since", String(state.lastSeq));
    const source = new EventSource(`/api/sessions/${encodeURIComponent(state.session)}/stream?${query}`);
    state.source = source;
    source.onopen = () => setConnection("live", "LIVE");
    const onMessage = (event) => apply(JSON.parse(event.data));
    source.addEventListener("snapshot", onMessage);
    source.addEventListener("update", onMessage);
    source.onerror = () => {
      setConnection("reconnecting", "RECONNECTING");
      if (source.readyState === EventSource.CLOSED) setTimeout(openStream, REOPEN_MS);
    };
  }

  // A snapshot replaces what we hold; an update is a delta from the value of its base_seq, applied whole
  // (head taken as is, rows merged by number, removed numbers dropped, rows ordered by position).
  function merged(held, update) {
    const rows = new Map(held.cars.map((car) => [car.number, car]));
    for (const number of update.removed || []) rows.delete(number);
    for (const car of update.cars || []) rows.set(car.number, car);
    const cars = [...rows.values()].sort((a, b) => a.position - b.position);
    return { ...update.head, cars };
  }

  function apply(message) {
    let next;
    if (message.kind === "snapshot") {
      next = message.classification;
    } else {
      if (state.lastSeq !== null && message.seq <= state.lastSeq) return; // already held
      if (!state.classification || message.base_seq !== state.lastSeq) {
        // Not a delta of what we hold (should not happen): start again from a snapshot.
        state.lastSeq = null;
        state.classification = null;
        openStream();
        return;
      }
      next = merged(state.classification, message);
    }
    state.lastSeq = message.seq;
    noteMoves(next);
    state.classification = next;
    render();
    standingsSoon();
  }

  // The championship panel follows the laps: at most once a second, and once more after the last change.
  function standingsSoon() {
    if (state.standingsTimer) return;
    const wait = Math.max(0, STANDINGS_AFTER_LAP_MS - (Date.now() - state.standingsAt));
    state.standingsTimer = setTimeout(() => {
      state.standingsTimer = null;
      refreshStandings();
    }, wait);
  }

  async function refreshStandings() {
    const panel = $("standings");
    state.standingsAt = Date.now();
    try {
      const response = await api(`/api/standings/live?session=${encodeURIComponent(state.session)}`);
      if (!response.ok) throw new Error(String(response.status));
      const page = await response.json();
      const rows = page.rows || [];
      if (!rows.length) throw new Error("empty");
      panel.classList.remove("muted");
      panel.innerHTML = `<table>${rows
        .map((r) => `<tr><td class="s-pos">${esc(r.position)}</td><td>${esc(r.name)}</td><td class="s-pts">${esc(r.points)}</td></tr>`)
        .join("")}</table>${titleFight(page.title)}`;
    } catch {
      panel.classList.add("muted");
      panel.textContent = "standings not available";
    }
  }

  // Who can still win the table, as it stands: points now, the most they can reach, what they need.
  function titleFight(title) {
    if (!title || !title.contenders.length) return "";
    const rows = title.contenders.map((c) => {
      const status = c.status === "champion" ? "champion" : `max ${esc(c.max_points)}`;
      const needs = c.status === "contender" && c.condition ? `<tr class="t-cond"><td colspan="3">${esc(c.condition)}</td></tr>` : "";
      return `<tr class="contender${c.leads ? " leads" : ""}" data-contender="${esc(c.competitors.join(" / "))}"
          data-status="${esc(c.status)}" data-leads="${c.leads}"><td>${esc(c.competitors.join(" / "))}</td>
          <td class="s-pts">${esc(c.live_points)}</td><td class="s-pts">${status}</td></tr>${needs}`;
    });
    const heading = title.decided ? "Champion" : `Who can still win · ${title.remaining} left`;
    return `<div class="title-fight" data-decided="${title.decided}"><h3>${heading}</h3><table>${rows.join("")}</table></div>`;
  }

  // -- what changed ----------------------------------------------------------------

  function noteMoves(next) {
    const now = Date.now();
    for (const car of next.cars) {
      const before = state.previousPositions.get(car.number);
      if (before !== undefined && before !== car.position) {
        state.moves.set(car.number, { up: car.position < before, by: Math.abs(before - car.position), until: now + MOVE_SHOWN_MS });
      }
    }
    state.previousPositions = new Map(next.cars.map((car) => [car.number, car.position]));
  }

  // -- rendering ---------------------------------------------------------------------

  function render() {
    const c = state.classification;
    if (!c) return;
    const classes = [...new Set(c.cars.map((car) => car.class_name))].sort();
    if (classes.join("|") !== state.classes.join("|")) {
      state.classes = classes;
      renderClassFilter();
    }
    renderHeader(c);
    renderTower(c);
    renderBattle(c);
    renderFastest(c);
    $("seq").textContent = `seq ${c.last_seq}`;
    $("tower").dataset.seq = String(c.last_seq);
  }

  function renderHeader(c) {
    document.body.dataset.phase = c.phase; // the next-event box (calendar.js) hides while a session runs
    $("session-name").textContent = c.name;
    const results = c.results ? ` · results ${c.results}` : "";
    $("session-meta").textContent = `${c.kind} · ${c.phase}${results} · ${c.session.championship}.${c.session.event}.${c.session.session}`;
    const flag = $("flag");
    flag.className = `flag flag-${c.flag}`;
    flag.dataset.flag = c.flag;
    flag.textContent = c.suspended ? "SUSPENDED" : FLAGS[c.flag] || c.flag.toUpperCase();
    const started = c.started_at !== null && c.started_at !== undefined;  // instants are signed: 0 is one
    const elapsed = started ? c.as_of - c.started_at : 0;
    $("clock").textContent = clock(elapsed);
    const leaderLaps = c.cars.length ? c.cars[0].laps : 0;
    let sub = started ? "elapsed" : "not started";
    if (c.length_ms) sub = `${clock(c.length_ms - elapsed)} to go`;
    if (c.length_laps) sub = `lap ${Math.min(leaderLaps + 1, c.length_laps)} / ${c.length_laps}`;
    if (c.phase === "finished" || c.phase === "finishing") sub = c.phase;
    $("clock-sub").textContent = sub;
  }

  function renderClassFilter() {
    const box = $("class-filter");
    const buttons = ["", ...state.classes].map((name) => {
      const colour = name ? classColour(name) : "#e8ecf3";
      const active = state.classFilter === name ? " active" : "";
      return `<button type="button" class="cls-btn${active}" data-class="${esc(name)}" style="--cls:${colour}">${esc(name || "All")}</button>`;
    });
    box.innerHTML = buttons.join("");
  }

  function renderTower(c) {
    const now = Date.now();
    const filtered = state.classFilter !== "";
    const fastest = c.fastest_lap;
    const classFastest = new Map((c.class_fastest_laps || []).map((lap) => [lap.class_name, lap]));
    const rows = c.cars
      .filter((car) => !filtered || car.class_name === state.classFilter)
      .map((car) => {
        const colour = classColour(car.class_name);
        const move = state.moves.get(car.number);
        const moveHtml = move && move.until > now
          ? `<span class="move ${move.up ? "up" : "down"}">${move.up ? "▲" : "▼"}${move.by}</span>` : "";
        const last = car.last_lap_session_best ? "sb" : car.last_lap_personal_best ? "pb" : "";
        const holdsFastest = fastest && fastest.number === car.number && car.best_lap_ms === fastest.ms;
        const holdsClass = classFastest.get(car.class_name)?.number === car.number;
        const best = holdsFastest ? "sb" : holdsClass ? "cb" : "";
        const [stateText, stateClass] = STATUSES[car.status] || STATES[car.state] || ["", ""];
        const gap = filtered ? car.class_gap : car.gap;
        const interval = filtered ? car.class_interval : car.interval;
        const shownPosition = filtered ? car.class_position : car.position;
        return `<tr data-number="${esc(car.number)}" data-position="${car.position}" data-laps="${car.laps}"
            data-class="${esc(car.class_name)}" class="row st-${esc(car.state)}" style="--cls:${colour}">
          <td class="c-pos"><span class="pos">${shownPosition}</span></td>
          <td class="c-move">${moveHtml}</td>
          <td class="c-num"><span class="num">${esc(car.number)}</span></td>
          <td class="c-cls"><span class="cls">${esc(car.class_name)}</span></td>
          <td class="c-pic">${filtered ? car.position : car.class_position}</td>
          <td class="c-name"><div class="driver">${esc(car.driver || car.team)}</div><div class="team">${esc(car.team)} · ${esc(car.car)}</div></td>
          <td class="c-laps">${car.laps}</td>
          <td class="c-time gap">${shownPosition === 1 ? "Leader" : gapText(gap)}</td>
          <td class="c-time">${gapText(interval)}</td>
          <td class="c-time lap ${last}">${lapTime(car.last_lap_ms)}</td>
          <td class="c-time lap ${best}">${lapTime(car.best_lap_ms)}</td>
          <td class="c-pits">${car.pit_stops || ""}</td>
          <td class="c-state">${stateText ? `<span class="state ${stateClass}">${stateText}</span>` : ""}</td>
        </tr>`;
      });
    $("tower-body").innerHTML = rows.join("");
    $("empty").hidden = rows.length > 0;
    $("tower").classList.toggle("filtered", filtered);
  }

  function pickBattle(c) {
    const numbers = new Set(c.cars.map((car) => car.number));
    if (state.battle.chosen && numbers.has(state.battle.a) && numbers.has(state.battle.b)) return;
    const cars = c.cars.filter((car) => !state.classFilter || car.class_name === state.classFilter);
    state.battle.a = cars[0]?.number ?? null;
    state.battle.b = cars[1]?.number ?? null;
  }

  function renderBattle(c) {
    pickBattle(c);
    const options = c.cars.map((car) => `<option value="${esc(car.number)}">#${esc(car.number)} ${esc(car.driver || car.team)}</option>`).join("");
    for (const side of ["a", "b"]) {
      const select = $(`battle-${side}`);
      if (select.dataset.options !== options) {
        select.innerHTML = options;
        select.dataset.options = options;
      }
      select.value = state.battle[side] ?? "";
    }
    const byNumber = new Map(c.cars.map((car) => [car.number, car]));
    const a = byNumber.get(state.battle.a);
    const b = byNumber.get(state.battle.b);
    const box = $("battle");
    if (!a || !b || a === b) {
      box.innerHTML = `<p class="muted">Choose two cars.</p>`;
      return;
    }
    const [ahead, behind] = a.position < b.position ? [a, b] : [b, a];
    let between = "";
    let trend = "";
    const pair = `${ahead.number}|${behind.number}`;
    if (ahead.laps !== behind.laps) {
      const laps = ahead.laps - behind.laps;
      between = `+${laps} lap${laps > 1 ? "s" : ""}`;
      state.battle.lastGap = null;
    } else if (ahead.last_crossing !== null && behind.last_crossing !== null) {
      const ms = behind.last_crossing - ahead.last_crossing;
      between = `+${(ms / 1000).toFixed(3)}`;
      if (state.battle.pair === pair && state.battle.lastGap !== null && state.battle.lastGap !== ms) {
        const change = (ms - state.battle.lastGap) / 1000;
        trend = `<span class="trend ${change < 0 ? "closing" : "opening"}">${change < 0 ? "closing" : "opening"} ${Math.abs(change).toFixed(3)}</span>`;
      }
      state.battle.lastGap = ms;
    }
    state.battle.pair = pair;
    const side = (car) => `
      <div class="b-car" style="--cls:${classColour(car.class_name)}">
        <div class="b-head"><span class="pos">${car.position}</span><span class="num">${esc(car.number)}</span></div>
        <div class="driver">${esc(car.driver || car.team)}</div>
        <div class="team">${esc(car.team)}</div>
      </div>`;
    const line = (label, left, right, cls = "") =>
      `<tr><td class="${cls}">${left}</td><th>${label}</th><td class="${cls}">${right}</td></tr>`;
    const lastClass = (car) => (car.last_lap_session_best ? "sb" : car.last_lap_personal_best ? "pb" : "");
    box.innerHTML = `
      <div class="b-cars">${side(ahead)}<div class="b-gap"><div class="b-gap-value">${between || "—"}</div>${trend}</div>${side(behind)}</div>
      <table class="b-table">
        <tr><td class="lap ${lastClass(ahead)}">${lapTime(ahead.last_lap_ms)}</td><th>Last</th><td class="lap ${lastClass(behind)}">${lapTime(behind.last_lap_ms)}</td></tr>
        ${line("Best", lapTime(ahead.best_lap_ms), lapTime(behind.best_lap_ms))}
        ${line("Laps", ahead.laps, behind.laps)}
        ${line("Pits", ahead.pit_stops, behind.pit_stops)}
        ${line("Stint laps", ahead.laps_since_pit, behind.laps_since_pit)}
      </table>`;
  }

  function renderFastest(c) {
    const laps = c.class_fastest_laps || [];
    if (!laps.length) {
      $("fastest").innerHTML = `<p class="muted">No lap yet.</p>`;
      return;
    }
    $("fastest").innerHTML = `<table>${laps
      .map((lap) => `<tr style="--cls:${classColour(lap.class_name)}"><td><span class="cls">${esc(lap.class_name)}</span></td>
        <td>#${esc(lap.number)}</td><td>lap ${lap.lap}</td>
        <td class="lap ${c.fastest_lap && c.fastest_lap.number === lap.number ? "sb" : ""}">${lapTime(lap.ms)}</td></tr>`)
      .join("")}</table>`;
  }

  // -- controls ---------------------------------------------------------------------

  $("class-filter").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-class]");
    if (!button) return;
    state.classFilter = button.dataset.class;
    state.battle.chosen = false;
    renderClassFilter();
    render();
  });

  for (const side of ["a", "b"]) {
    $(`battle-${side}`).addEventListener("change", (event) => {
      state.battle[side] = event.target.value;
      state.battle.chosen = true;
      state.battle.lastGap = null;
      render();
    });
  }

  $("session-select").addEventListener("change", (event) => {
    const next = new URLSearchParams(location.search);
    next.set("session", event.target.value);
    location.search = next.toString();
  });

  chooseSession();
})();
