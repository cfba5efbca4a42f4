// chequered live timing page: plain JS modules, no build step.
// Reads ?session=KEY (default: the most recent session), ?token=T (needed for every data request), ?class=NAME
// (the class filter), ?car=N (the car detail), ?delay=S (broadcast delay), ?stale=S (STALE after S seconds
// without data), ?a=N&b=M (the battle), ?table=LABEL (the championship table); they stay in the address bar.
"use strict";

import {
  CATEGORIES, FLAGS, PENALTY_NOTE, battleGap, clock, esc, idealLap, lapTime, penaltyGap, sectorClass, sectorTime,
  seconds, statusLabel,
} from "./format.js";
import { ABSURD_MS, LiveSession, api, latestSession, numberParam, palette } from "./live.js";

const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const $ = (id) => document.getElementById(id);

const MOVE_SHOWN_MS = 8000;
const STANDINGS_EVERY_MS = 15000;
const STANDINGS_MARGIN_MS = 15000; // tables kept past the broadcast delay, so one is always as old as the picture
const STANDINGS_AFTER_VALUE_MS = 1000;
const CLOCK_EVERY_MS = 250;
const ANALYSIS_EVERY_MS = 5000;
const MESSAGES_RETRY_MS = 10000;
const PINNED_KEY = "chequered.pinned"; // and the championship: a number is a car of one series
const CONNECTION = { connecting: "CONNECTING", live: "LIVE", reconnecting: "RECONNECTING", stale: "STALE", error: "OFFLINE" };

const state = {
  session: params.get("session"),
  live: null,
  classification: null,
  classFilter: params.get("class") || "",
  classes: [],
  swatches: {},
  previousPositions: new Map(),
  moves: new Map(),
  pinned: new Set(), // the session's championship's, once the session is known
  battle: { a: params.get("a"), b: params.get("b"), chosen: params.has("a") && params.has("b"), lastGap: null, pair: "" },
  detail: params.get("car"),
  detailOpener: null,
  messages: new Map(), // seq -> race-control message, every one known
  fetchingMessages: false,
  messagesAskedAt: -Infinity, // a failing /messages is asked again at most every MESSAGES_RETRY_MS
  lapsSeen: new Map(), // number -> Map(lap -> {lap_ms, sectors}) laps this page saw (when the analysis is absent)
  analysis: { number: null, laps: null, fetchedAt: 0, fetching: false },
  standings: [], // values fetched, oldest first (shown only once the page shows the classification they reflect)
  standingsTable: params.get("table") || "",
  standingsAt: 0,
  standingsTimer: null,
  standingsMissing: false, // none for this championship yet: asked again only every STANDINGS_EVERY_MS
  marks: params.has("marks") ? [] : null, // [number, laps, epoch ms] when a row's laps change (bench page)
  arrivals: params.has("marks") ? [] : null, // [seq, epoch ms] when each message arrives (bench page)
  drawn: params.has("marks") ? [] : null, // [seq, drawn as it arrived] of each value drawn (tests of the pace)
  rows: new Map(), // number -> {key, entry}: each car's row as last built (rowEntry)
};
window.chequeredMarks = state.marks;
window.chequeredArrivals = state.arrivals;
window.chequeredDrawn = state.drawn;

function pinnedKey() {
  return `${PINNED_KEY}.${(state.session || "").split(".")[0]}`;
}

function loadPinned() {
  try {
    return new Set(JSON.parse(localStorage.getItem(pinnedKey()) || "[]"));
  } catch {
    return new Set();
  }
}

function savePinned() {
  try {
    localStorage.setItem(pinnedKey(), JSON.stringify([...state.pinned]));
  } catch {
    // storage refused (private mode): pins last as long as the page
  }
}

function keepInAddress(name, value) {
  const next = new URLSearchParams(location.search);
  if (value === null || value === "") next.delete(name);
  else next.set(name, value);
  history.replaceState(null, "", `${location.pathname}?${next}`);
}

// -- start ---------------------------------------------------------------------

async function start() {
  $("delay").value = String(numberParam(params, "delay", 0));
  let keys = [];
  try {
    const response = await api("/api/sessions", token);
    keys = (await response.json()).sessions.map((s) => s.key);
  } catch (err) {
    setConnection("error");
    if (err.message === "unauthorized") {
      $("conn-text").textContent = "TOKEN NEEDED";
      $("empty").textContent = "A read token is needed: open this page with ?token=…";
      return;
    }
  }
  if (state.session && !keys.includes(state.session)) keys.unshift(state.session);
  $("session-select").innerHTML = keys.map((k) => `<option value="${esc(k)}">${esc(k)}</option>`).join("");
  if (!state.session) state.session = keys[0] || (await latestSession(token).catch(() => null));
  if (!state.session) {
    $("empty").textContent = "No session yet…";
    setTimeout(start, 2000);
    return;
  }
  $("session-select").value = state.session;
  document.body.dataset.session = state.session;
  state.pinned = loadPinned();
  $("analysis-link").href = `/analysis?${new URLSearchParams({ session: state.session, token })}`;
  state.live = new LiveSession({
    session: state.session,
    token,
    delayMs: numberParam(params, "delay", 0) * 1000,
    staleMs: numberParam(params, "stale", 60) * 1000,
    onValue: shown,
    onState: setConnection,
    arrivals: state.arrivals,
  });
  state.live.start();
  setInterval(renderClock, CLOCK_EVERY_MS);
  refreshStandings();
  setInterval(refreshStandings, STANDINGS_EVERY_MS);
}

function setConnection(kind) {
  $("conn").dataset.state = kind;
  $("conn-text").textContent = CONNECTION[kind] || kind.toUpperCase();
  renderClock();
}

// Each value is drawn as soon as it arrives: waiting for the next animation frame cost every value half a frame
// (8 ms at the median, 16 at worst) when they come a few a frame, as in a busy race. A burst (a catch-up, a
// resume, values queued while the page was busy) is drawn at most DRAWS_PER_FRAME times a frame, then once at the
// next frame with the latest value. (Waiting instead for as long as the last drawing took, or for a frame, after
// every value that came soon after one, cost the page's p99 6 to 10 ms at 200 values a second.)
const FRAME_MS = 16;
const DRAWS_PER_FRAME = 4;
const drawing = { pending: false, frameStart: -Infinity, inFrame: 0 };

function shown(value) {
  noteMoves(value);
  noteLaps(value);
  state.classification = value;
  standingsSoon();
  if (drawing.pending) return;
  const now = performance.now();
  if (now - drawing.frameStart >= FRAME_MS) {
    drawing.frameStart = now;
    drawing.inFrame = 0;
  }
  if (drawing.inFrame < DRAWS_PER_FRAME) {
    drawing.inFrame += 1;
    draw(true);
  } else {
    drawing.pending = true;
    requestAnimationFrame(() => draw(false));
  }
}

function draw(atOnce) {
  drawing.pending = false;
  render();
  if (state.drawn && state.classification) state.drawn.push([state.classification.last_seq, atOnce]);
}

// Sets an element's HTML only when it changed (a panel redrawn with the same content costs nothing).
function setHtml(element, html) {
  if (element.chequeredHtml === html) return;
  element.innerHTML = html;
  element.chequeredHtml = html;
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
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

function noteLaps(value) {
  for (const car of value.cars) {
    if (!car.laps || car.last_lap_ms === null) continue;
    let laps = state.lapsSeen.get(car.number);
    if (!laps) state.lapsSeen.set(car.number, (laps = new Map()));
    if (!laps.has(car.laps)) laps.set(car.laps, { lap_ms: car.last_lap_ms, sectors_ms: car.last_sectors_ms || [] });
  }
}

// -- rendering ---------------------------------------------------------------------

function render() {
  const c = state.classification;
  if (!c) return;
  const classes = [...new Set(c.cars.map((car) => car.class_name))].sort();
  if (classes.join("|") !== state.classes.join("|")) {
    state.classes = classes;
    renderClassFilter();
    palette(state.session, token).then((swatches) => {
      state.swatches = swatches;
      renderClassFilter();
      render();
    }).catch(() => {});
  }
  renderHeader(c);
  renderTower(c);
  renderBattle(c);
  renderFastest(c);
  renderMessages(c);
  renderStandings();
  if (state.detail !== null) renderDetail();
  setText($("seq"), `seq ${c.last_seq}${state.live.delayMs ? ` · delayed ${state.live.delayMs / 1000} s` : ""}`);
  $("tower").dataset.seq = String(c.last_seq);
}

function swatchStyle(name) {
  const swatch = state.swatches[name];
  return swatch ? `--cls:${swatch.colour};--cls-text:${swatch.text}` : "--cls:#8792a8;--cls-text:#000000";
}

function patternOf(name) {
  const swatch = state.swatches[name];
  return swatch ? `pat-${swatch.pattern}` : "pat-solid";
}

function renderHeader(c) {
  if (document.body.dataset.phase !== c.phase) document.body.dataset.phase = c.phase; // the next-event box (calendar.js) hides while a session runs
  setText($("session-name"), c.name);
  const results = c.results ? ` · results ${c.results}` : "";
  setText($("session-meta"), `${c.kind} · ${c.phase}${results} · ${c.session.championship}.${c.session.event}.${c.session.session}`);
  const flag = $("flag");
  if (flag.dataset.flag !== c.flag) {
    flag.className = `flag flag-${c.flag}`;
    flag.dataset.flag = c.flag;
  }
  setText(flag, c.suspended ? "SUSPENDED" : FLAGS[c.flag] || c.flag.toUpperCase());
  renderClock();
}

function renderClock() {
  const c = state.classification;
  if (!c || !state.live) return;
  const elapsed = state.live.clockNow();
  const stale = state.live.connection === "stale";
  setText($("clock"), elapsed === null ? (c.started_at === null ? "0:00:00" : "--:--:--") : clock(elapsed));
  const running = String(!stale && c.chequered_at === null && state.live.running());
  if ($("clock").dataset.running !== running) $("clock").dataset.running = running;
  const leaderLaps = c.cars.length ? c.cars[0].laps : 0;
  let sub = c.started_at !== null ? "elapsed" : "not started";
  if (c.length_ms && elapsed !== null) sub = `${clock(c.length_ms - elapsed)} to go`;
  if (c.length_laps) sub = `lap ${Math.min(leaderLaps + 1, c.length_laps)} / ${c.length_laps}`;
  if (c.phase === "finished" || c.phase === "finishing") sub = c.phase;
  if (stale) sub = "no data: stale";
  setText($("clock-sub"), sub);
}

function renderClassFilter() {
  const box = $("class-filter");
  const buttons = ["", ...state.classes].map((name) => {
    const active = state.classFilter === name;
    const style = name ? swatchStyle(name) : "--cls:#e8ecf3;--cls-text:#0a0f1c";
    return `<button type="button" class="cls-btn${active ? " active" : ""} ${name ? patternOf(name) : ""}" data-class="${esc(name)}"
      aria-pressed="${active}" style="${style}">${esc(name || "All")}</button>`;
  });
  box.innerHTML = buttons.join("");
}

function sectorCount(c) {
  return Math.max(c.best_sectors_ms ? c.best_sectors_ms.length : 0, 0);
}

function columns(c, filtered) {
  const sectors = Array.from({ length: sectorCount(c) }, (_, i) => ({ head: `S${i + 1}`, cls: "c-sec", title: `sector ${i + 1} of the last lap` }));
  return [
    { head: "Pos", cls: "c-pos ph", title: "overall position" },
    { head: "", cls: "c-move" },
    { head: `<span class="sr-only">pinned</span>`, cls: "c-pin" },
    { head: "No", cls: "c-num ph" },
    { head: "Class", cls: "c-cls" },
    { head: "PIC", cls: "c-pic", title: "position in class" },
    { head: "Driver · Team", cls: "c-name ph" },
    { head: "Laps", cls: "c-laps" },
    { head: filtered ? "Class gap" : "Gap", cls: "c-time c-gap ph", title: filtered ? "to the class leader" : "to the leader" },
    { head: filtered ? "Class int" : "Int", cls: "c-time c-int", title: filtered ? "to the car ahead in the class" : "to the car ahead" },
    { head: "Last", cls: "c-time c-last ph" },
    ...sectors,
    { head: "Best", cls: "c-time c-best" },
    { head: "Pits", cls: "c-pits" },
    { head: `<span class="sr-only">state</span>`, cls: "c-state" },
  ];
}

// The mark of a car's last move while it is shown (MOVE_SHOWN_MS), as HTML; "" when there is none.
function moveMark(number) {
  const move = state.moves.get(number);
  if (!move || move.until <= Date.now()) return "";
  const way = move.up ? "up" : "down";
  return `<span class="move ${way}" aria-label="${way} ${move.by}">${move.up ? "▲" : "▼"}${move.by}</span>`;
}

// A car's row, built again only when something it shows may have changed: the car's own row, the rows its gap and
// interval are taken to, the session's bests, the class swatches, its pin or its move mark. Most values change a
// row or two of sixty, and building all sixty was the largest part of the page's script at every value.
function rowEntry(c, car, filtered, leader, ahead, bests) {
  const pinned = state.pinned.has(car.number);
  const moveHtml = moveMark(car.number);
  const key = [car, leader, ahead, filtered, bests, state.swatches, pinned, moveHtml];
  const held = state.rows.get(car.number);
  if (held && held.key.every((part, i) => part === key[i])) return held.entry;
  const entry = {
    number: car.number,
    laps: car.laps,
    cells: rowCells(c, car, filtered, leader, ahead, moveHtml),
    className: `row st-${car.state}${pinned ? " is-pinned" : ""}`,
    style: swatchStyle(car.class_name),
    data: { position: String(car.position), classPosition: String(car.class_position), laps: String(car.laps), class: car.class_name },
  };
  state.rows.set(car.number, { key, entry });
  return entry;
}

// A row's cells, each [class, inner HTML]: a cell is rewritten only when its own content changed.
function rowCells(c, car, filtered, leader, ahead, moveHtml) {
  const last = car.last_lap_session_best ? "sb" : car.last_lap_personal_best ? "pb" : "";
  const fastest = c.fastest_lap;
  const classFastest = (c.class_fastest_laps || []).find((lap) => lap.class_name === car.class_name);
  const holdsFastest = fastest && fastest.number === car.number && car.best_lap_ms === fastest.ms;
  const best = holdsFastest ? "sb" : classFastest && classFastest.number === car.number ? "cb" : "";
  const [stateText, stateClass] = statusLabel(car);
  const gap = filtered ? car.class_gap : car.gap;
  const interval = filtered ? car.class_interval : car.interval;
  const penalty = car.penalty_time_ms ? `<span class="pen" title="time penalties included in the gaps">+${seconds(car.penalty_time_ms)}</span>` : "";
  const sectors = Array.from({ length: sectorCount(c) }, (_, i) => {
    const ms = (car.last_sectors_ms || [])[i];
    return [`c-sec ${sectorClass(ms, i, car, c)}`, sectorTime(ms)];
  });
  const isLeader = (filtered ? car.class_position : car.position) === 1;
  const number = esc(car.number);
  return [
    ["c-pos ph", `<span class="pos">${car.position}</span>`],
    ["c-move", moveHtml],
    ["c-pin", pinButton(car.number)],
    ["c-num ph", `<span class="num ${patternOf(car.class_name)}">${number}</span>`],
    ["c-cls", `<span class="cls">${esc(car.class_name)}${car.sub_class ? ` ${esc(car.sub_class)}` : ""}</span>`],
    ["c-pic", String(car.class_position)],
    ["c-name ph", `<div class="driver">${esc(car.driver || car.team)}</div><div class="team">${esc(car.team)} · ${esc(car.car)}</div>`],
    ["c-laps", String(car.laps)],
    ["c-time c-gap ph gap", isLeader ? "Leader" : penaltyGap(gap, car, leader)],
    ["c-time c-int", penaltyGap(interval, car, ahead)],
    [`c-time c-last ph lap ${last}`, lapTime(car.last_lap_ms)],
    ...sectors,
    [`c-time c-best lap ${best}`, lapTime(car.best_lap_ms)],
    ["c-pits", car.pit_stops ? String(car.pit_stops) : ""],
    ["c-state", `${stateText ? `<span class="state ${stateClass}">${stateText}</span>` : ""}${penalty}`],
  ];
}

// Rows kept by car, cells kept by column: only what changed is written, and focus stays where it was.
function syncRows(tbody, entries) {
  const focusedBefore = tbody.contains(document.activeElement) ? document.activeElement : null; // a moved row loses it
  const existing = new Map([...tbody.children].map((tr) => [tr.chequeredEntry.number, tr]));
  let previous = null;
  for (const entry of entries) {
    let tr = existing.get(entry.number);
    existing.delete(entry.number);
    if (!tr) {
      tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.number = entry.number;
      tr.chequeredEntry = null;
    }
    if (tr.chequeredEntry !== entry) {
      drawRow(tbody, tr, tr.chequeredEntry, entry);
      tr.chequeredEntry = entry;
    }
    const expected = previous ? previous.nextSibling : tbody.firstChild;
    if (expected !== tr) tbody.insertBefore(tr, expected);
    previous = tr;
  }
  for (const tr of existing.values()) tr.remove();
  if (focusedBefore && focusedBefore.isConnected && document.activeElement !== focusedBefore) {
    focusedBefore.focus({ preventScroll: true });
  }
}

// What of a row changed since it was drawn with ``drawn`` (null: never): its data, class and style, and each cell
// whose class or content did (a cell of plain text is set as text: no HTML to parse). The entry drawn last is
// kept on the row and compared with, not the DOM's own attributes: reading those cost a native call each.
function drawRow(tbody, tr, drawn, entry) {
  if (state.marks && tbody.id === "tower-body" && drawn?.laps !== entry.laps) {
    state.marks.push([entry.number, entry.laps, performance.timeOrigin + performance.now()]);
  }
  for (const [name, value] of Object.entries(entry.data)) if (drawn?.data[name] !== value) tr.dataset[name] = value;
  if (drawn?.className !== entry.className) tr.className = entry.className;
  if (drawn?.style !== entry.style) tr.setAttribute("style", entry.style);
  const cellsBefore = drawn?.cells.length === entry.cells.length ? drawn.cells : null;
  if (!cellsBefore) tr.replaceChildren(...entry.cells.map(() => document.createElement("td")));
  entry.cells.forEach(([cls, html], i) => {
    const [clsBefore, htmlBefore] = cellsBefore ? cellsBefore[i] : [];
    if (clsBefore === cls && htmlBefore === html) return;
    const cell = tr.cells[i];
    const focused = cell.contains(document.activeElement);
    if (clsBefore !== cls) cell.className = cls;
    if (htmlBefore !== html) {
      if (/[<&]/.test(html)) cell.innerHTML = html;
      else cell.textContent = html;
    }
    if (focused) cell.querySelector("button")?.focus();
  });
}

function renderTower(c) {
  const filtered = state.classFilter !== "";
  const cols = columns(c, filtered);
  const head = cols.map((col) => `<th scope="col" class="${col.cls}"${col.title ? ` title="${col.title}"` : ""}>${col.head}</th>`).join("");
  setHtml($("tower-head"), head);
  const entries = [];
  const pinnedEntries = [];
  const classLeaders = new Map();
  const classAheads = new Map();
  const bests = JSON.stringify([c.fastest_lap, c.class_fastest_laps, c.best_sectors_ms]);
  let previous = null;
  for (const car of c.cars) {
    const leader = filtered ? classLeaders.get(car.class_name) ?? null : previous && c.cars[0];
    const ahead = filtered ? classAheads.get(car.class_name) ?? null : previous;
    if (!classLeaders.has(car.class_name)) classLeaders.set(car.class_name, car);
    classAheads.set(car.class_name, car);
    previous = car;
    if (filtered && car.class_name !== state.classFilter) continue;
    const entry = rowEntry(c, car, filtered, leader, ahead, bests);
    entries.push(entry);
    if (state.pinned.has(car.number)) pinnedEntries.push(entry);
  }
  syncRows($("tower-body"), entries);
  syncRows($("pinned-body"), pinnedEntries);
  if ($("empty").hidden !== entries.length > 0) $("empty").hidden = entries.length > 0;
  if (!entries.length) setText($("empty"), c.cars.length ? "No car of this class." : "No car entered yet.");
  const penalties = c.cars.some((car) => car.penalty_time_ms);
  setText($("legend"), [
    "Gaps at the line, time penalties included (as the order).",
    penalties ? PENALTY_NOTE + "." : "",
    sectorCount(c) ? "Sectors: purple session best, green personal best." : "",
  ].filter(Boolean).join(" "));
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
    const chosen = state.battle[side] ?? "";
    if (select.value !== chosen) select.value = chosen;
  }
  const byNumber = new Map(c.cars.map((car) => [car.number, car]));
  const a = byNumber.get(state.battle.a);
  const b = byNumber.get(state.battle.b);
  const box = $("battle");
  if (!a || !b || a === b) {
    setHtml(box, `<p class="muted">Choose two cars.</p>`);
    return;
  }
  const [ahead, behind] = a.position < b.position ? [a, b] : [b, a];
  const { gap, exact } = battleGap(c, ahead, behind);
  const between = penaltyGap(gap, behind, ahead) || "—";
  const pair = `${ahead.number}|${behind.number}`;
  let trend = "";
  if (gap && !gap.laps) {
    if (state.battle.pair === pair && state.battle.lastGap !== null && state.battle.lastGap !== gap.ms) {
      const change = (gap.ms - state.battle.lastGap) / 1000;
      trend = `<span class="trend ${change < 0 ? "closing" : "opening"}">${change < 0 ? "closing" : "opening"} ${Math.abs(change).toFixed(3)}</span>`;
    }
    state.battle.lastGap = gap.ms;
  } else {
    state.battle.lastGap = null;
  }
  state.battle.pair = pair;
  const side = (car) => `
    <div class="b-car" style="${swatchStyle(car.class_name)}">
      <div class="b-head"><span class="pos">${car.position}</span><span class="num ${patternOf(car.class_name)}">${esc(car.number)}</span></div>
      <div class="driver">${esc(car.driver || car.team)}</div>
      <div class="team">${esc(car.team)}</div>
    </div>`;
  const line = (label, left, right, cls = "") =>
    `<tr><td class="${cls}">${left}</td><th scope="row">${label}</th><td class="${cls}">${right}</td></tr>`;
  const lastClass = (car) => (car.last_lap_session_best ? "sb" : car.last_lap_personal_best ? "pb" : "");
  setHtml(box, `
    <div class="b-cars">${side(ahead)}<div class="b-gap"><div class="b-gap-value" title="${!gap ? "not known from the classification" : exact ? "at the line" : "from their gaps to the leader"}">${esc(between)}</div>${trend}</div>${side(behind)}</div>
    <table class="b-table">
      <tr><td class="lap ${lastClass(ahead)}">${lapTime(ahead.last_lap_ms)}</td><th scope="row">Last</th><td class="lap ${lastClass(behind)}">${lapTime(behind.last_lap_ms)}</td></tr>
      ${line("Best", lapTime(ahead.best_lap_ms), lapTime(behind.best_lap_ms))}
      ${line("Laps", ahead.laps, behind.laps)}
      ${line("Pits", ahead.pit_stops, behind.pit_stops)}
      ${line("Stint laps", ahead.laps_since_pit, behind.laps_since_pit)}
      ${ahead.penalty_time_ms || behind.penalty_time_ms ? line("Penalties", `+${seconds(ahead.penalty_time_ms)}`, `+${seconds(behind.penalty_time_ms)}`) : ""}
    </table>`);
}

function renderFastest(c) {
  const laps = c.class_fastest_laps || [];
  if (!laps.length) {
    setHtml($("fastest"), `<p class="muted">No lap yet.</p>`);
    return;
  }
  const sectors = c.best_sectors_ms || [];
  const ideal = idealLap(sectors);
  setHtml($("fastest"), `<table>${laps
    .map((lap) => `<tr style="${swatchStyle(lap.class_name)}"><td><span class="cls">${esc(lap.class_name)}</span></td>
      <td>#${esc(lap.number)}</td><td>lap ${lap.lap}</td>
      <td class="lap ${c.fastest_lap && c.fastest_lap.number === lap.number ? "sb" : ""}">${lapTime(lap.ms)}</td></tr>`)
    .join("")}</table>
    ${sectors.length ? `<table class="sectors"><tr>${sectors.map((s, i) => `<th scope="col">S${i + 1}</th>`).join("")}<th scope="col">Ideal lap</th></tr>
      <tr>${sectors.map((s) => `<td class="lap sb">${sectorTime(s)}</td>`).join("")}<td id="ideal-lap">${lapTime(ideal)}</td></tr></table>` : ""}`);
}

// -- race control ---------------------------------------------------------------------

async function fetchMessages() {
  if (state.fetchingMessages || performance.now() - state.messagesAskedAt < MESSAGES_RETRY_MS) return;
  state.fetchingMessages = true;
  state.messagesAskedAt = performance.now();
  try {
    const response = await api(`/api/sessions/${encodeURIComponent(state.session)}/messages`, token);
    if (response.ok) for (const message of (await response.json()).messages) state.messages.set(message.seq, message);
  } catch {
    // the list shows what the values carried
  } finally {
    state.fetchingMessages = false;
  }
  if (state.classification) renderMessages(state.classification);
}

function renderMessages(c) {
  for (const message of c.messages || []) state.messages.set(message.seq, message);
  const shown = [...state.messages.values()].filter((m) => m.seq <= c.last_seq).sort((a, b) => b.seq - a.seq);
  if ((c.message_count || 0) > shown.length) fetchMessages(); // older ones than the value carries
  const at = (m) => (c.started_at !== null && m.at >= c.started_at && m.at - c.started_at <= ABSURD_MS ? clock(m.at - c.started_at) : "");
  const html = shown.map((m) => `<li class="msg msg-${esc(m.kind)}" data-seq="${m.seq}"><time>${at(m)}</time> ${esc(m.text)}</li>`).join("");
  setHtml($("messages"), html || `<li class="muted">No message yet.</li>`);
  const latest = shown[0];
  const ticker = $("ticker");
  if (ticker.hidden !== !latest) ticker.hidden = !latest;
  if (latest && ticker.dataset.seq !== String(latest.seq)) {
    ticker.dataset.seq = String(latest.seq);
    ticker.className = `ticker msg-${latest.kind}`;
    ticker.innerHTML = `<span class="ticker-label">RACE CONTROL</span> <time>${at(latest)}</time> ${esc(latest.text)}`;
  }
}

// -- championship ------------------------------------------------------------------------

// The championship follows the laps: asked at most once a second while values come, and once after the last;
// a championship with no standings (a club race, a test day) is asked again only every STANDINGS_EVERY_MS, so a
// crowd of viewers does not ask the gateway for nothing at every lap.
function standingsSoon() {
  if (state.standingsTimer || state.standingsMissing) return;
  const wait = Math.max(0, STANDINGS_AFTER_VALUE_MS - (Date.now() - state.standingsAt));
  state.standingsTimer = setTimeout(() => {
    state.standingsTimer = null;
    refreshStandings();
  }, wait);
}

async function refreshStandings() {
  state.standingsAt = Date.now();
  try {
    const response = await api(`/api/standings/live?session=${encodeURIComponent(state.session)}`, token);
    state.standingsMissing = response.status === 404;
    if (!response.ok) throw new Error(String(response.status));
    state.standings.push({ ...(await response.json()), fetchedAt: Date.now() });
    // every table fetched within the delay (and a margin) is kept, with the newest one older than that
    const horizon = Date.now() - state.live.delayMs - STANDINGS_MARGIN_MS;
    while (state.standings.length > 1 && state.standings[1].fetchedAt < horizon) state.standings.shift();
  } catch {
    // not available (no championship, no standings service): the panel says so
  }
  renderStandings();
}

const STANDINGS_STATES = { as_it_stands: "AS IT STANDS", provisional: "PROVISIONAL", final: "FINAL" };

function renderStandings() {
  const panel = $("standings");
  const shownSeq = state.classification ? state.classification.last_seq : 0;
  // under a broadcast delay, a table is shown once the page shows the classification it was scored with
  const page = [...state.standings].reverse().find((s) => (s.standings.sequences[state.session] ?? 0) <= shownSeq);
  const select = $("standings-table");
  if (!page || !page.tables.length) {
    panel.classList.add("muted");
    setHtml(panel, "standings not available");
    panel.chequeredPage = null;
    select.hidden = true;
    $("standings-state").textContent = "";
    return;
  }
  const labels = page.tables.map((t) => t.label);
  const options = labels.map((label) => `<option>${esc(label)}</option>`).join("");
  if (select.dataset.options !== options) {
    select.innerHTML = options;
    select.dataset.options = options;
  }
  if (!labels.includes(state.standingsTable)) state.standingsTable = page.table || labels[0];
  if (select.value !== state.standingsTable) select.value = state.standingsTable;
  if (select.hidden) select.hidden = false;
  setText($("standings-state"), STANDINGS_STATES[page.state] || "");
  if ($("standings-state").dataset.state !== page.state) $("standings-state").dataset.state = page.state;
  const index = labels.indexOf(state.standingsTable);
  const table = page.tables[index];
  panel.classList.remove("muted");
  // the table is drawn again only when another page of standings or another table is shown, not every frame
  if (panel.chequeredPage === page && panel.chequeredTable === index) return;
  panel.chequeredPage = page;
  panel.chequeredTable = index;
  const moved = (r) => (r.before === null || r.before === r.position ? "" : r.before > r.position ? `<span class="move up">▲${r.before - r.position}</span>` : `<span class="move down">▼${r.position - r.before}</span>`);
  setHtml(panel, `<table><thead><tr><th scope="col">Pos</th><th scope="col">${esc(table.kind)}</th><th scope="col" class="s-pts">Pts</th></tr></thead><tbody>${table.rows
    .map((r) => `<tr data-competitors="${esc(r.competitors.join("|"))}"><td class="s-pos">${esc(r.position)} ${moved(r)}</td><td>${esc(r.name)}</td><td class="s-pts">${esc(r.points)}${r.live_points ? ` <small>(+${esc(r.live_points)})</small>` : ""}</td></tr>`)
    .join("")}</tbody></table>${titleFight(page.standings.tables[index].title)}`);
}

// Who can still win the table (when the read model has it): points now, the most they can reach, what they need.
function titleFight(title) {
  if (!title || !title.contenders || !title.contenders.length) return "";
  const rows = title.contenders.map((k) => {
    const name = esc(k.competitors.join(" / "));
    const status = k.status === "champion" ? "champion" : `max ${esc(k.max_points)}`;
    const needs = k.status === "contender" && k.condition ? `<tr class="t-cond"><td colspan="3">${esc(k.condition)}</td></tr>` : "";
    return `<tr class="contender${k.leads ? " leads" : ""}" data-contender="${name}" data-status="${esc(k.status)}"
      data-leads="${k.leads}"><td>${name}</td><td class="s-pts">${esc(k.live_points)}</td><td class="s-pts">${status}</td></tr>${needs}`;
  });
  const heading = title.decided ? "Champion" : `Who can still win · ${esc(title.remaining)} left`;
  return `<div class="title-fight" data-decided="${title.decided}"><h3>${heading}</h3><table>${rows.join("")}</table></div>`;
}

// -- car detail ------------------------------------------------------------------------------

function openDetail(number, opener) {
  state.detail = number;
  state.detailOpener = opener || null;
  state.analysis = { number, laps: null, fetchedAt: 0, fetching: false };
  keepInAddress("car", number);
  $("detail").hidden = false;
  renderDetail();
  $("detail-close").focus();
}

function closeDetail() {
  state.detail = null;
  keepInAddress("car", null);
  $("detail").hidden = true;
  const back = state.detailOpener && document.querySelector(`#tower-body tr[data-number="${CSS.escape(state.detailOpener)}"]`);
  if (back) back.focus();
}

async function fetchAnalysis(number) {
  const analysis = state.analysis;
  if (analysis.fetching || analysis.laps === false || performance.now() - analysis.fetchedAt < ANALYSIS_EVERY_MS) return;
  analysis.fetching = true;
  try {
    const path = `/api/sessions/${encodeURIComponent(state.session)}/analysis/cars/${encodeURIComponent(number)}`;
    const response = await api(path, token);
    if (state.analysis !== analysis) return;
    analysis.laps = response.ok ? (await response.json()).laps || [] : false; // false: no analysis here
  } catch {
    analysis.laps = false;
  } finally {
    analysis.fetching = false;
    analysis.fetchedAt = performance.now();
  }
  if (state.detail === number) renderDetail();
}

function lapHistory(car, c) {
  fetchAnalysis(car.number);
  const fromAnalysis = Array.isArray(state.analysis.laps) && state.analysis.number === car.number;
  const laps = fromAnalysis
    ? state.analysis.laps.filter((l) => l.lap <= car.laps).map((l) => [l.lap, l.lap_ms, l.sectors_ms || []])
    : [...(state.lapsSeen.get(car.number) || new Map()).entries()].map(([lap, l]) => [lap, l.lap_ms, l.sectors_ms]);
  laps.sort((x, y) => y[0] - x[0]);
  const source = fromAnalysis ? "every lap (analysis)" : "laps seen since this page opened";
  const rows = laps.slice(0, 60).map(([lap, ms, sectors]) => `<tr><td>${lap}</td><td class="lap ${ms === car.best_lap_ms ? "pb" : ""}">${lapTime(ms)}</td>${sectors
    .map((s, i) => `<td class="${sectorClass(s, i, car, c)}">${sectorTime(s)}</td>`).join("")}</tr>`).join("");
  return `<section><h3>Lap history <small>${source}</small></h3>${rows ? `<table class="d-laps">${rows}</table>` : `<p class="muted">No lap yet.</p>`}</section>`;
}

function renderDetail() {
  const c = state.classification;
  if (!c || state.detail === null) return;
  $("detail").hidden = false;
  const car = c.cars.find((x) => x.number === state.detail);
  if (!car) {
    setText($("detail-title"), `Car #${state.detail}`);
    setHtml($("detail-body"), `<p class="muted">Not in this session.</p>`);
    return;
  }
  setText($("detail-title"), `#${car.number} ${car.team}`);
  const drive = new Map((car.drive_times || []).map((d) => [d.driver, d.ms]));
  const crew = (car.crew || []).map((d) => `<tr${d.name === car.driver ? ` class="current"` : ""}><td>${esc(d.name)}${d.name === car.driver ? " <small>driving</small>" : ""}</td>
    <td>${CATEGORIES[d.category] ? `<span class="cat cat-${esc(d.category)}">${CATEGORIES[d.category]}</span>` : ""}</td><td class="num-cell">${drive.has(d.name) ? clock(drive.get(d.name)) : ""}</td></tr>`).join("");
  const stints = (car.stints || []).map((s, i) => `<tr><td>${i + 1}</td><td>${esc(s.driver || "")}</td><td>${s.from_lap}–${s.from_lap + Math.max(0, s.laps - 1)}</td><td class="num-cell">${s.laps}</td><td class="num-cell">${clock(s.time_ms)}</td></tr>`).join("");
  const stops = (car.stops || []).map((s, i) => `<tr><td>${i + 1}</td><td>lap ${s.lap}</td><td class="num-cell">${s.lane_ms === null ? "in the pit lane" : sectorTime(s.lane_ms)}</td></tr>`).join("");
  const decisions = (car.decisions || []).map((d) => {
    const effect = d.time_ms ? `+${seconds(d.time_ms)}` : d.laps ? `-${d.laps} lap${d.laps > 1 ? "s" : ""}` : d.positions ? `-${d.positions} pos.` : d.lap ? `lap ${d.lap} deleted` : "";
    return `<tr><td>${esc(d.decision)}</td><td>${esc((d.kind || "lap deleted").replace(/_/g, " "))}</td><td><span class="dstate ds-${esc(d.state)}">${esc(d.state)}</span></td><td>${effect}</td><td>${esc(d.reason)}</td></tr>`;
  }).join("");
  const sectorsRow = (list, cls) => (list || []).map((s, i) => `<td class="${cls(s, i)}">${sectorTime(s)}</td>`).join("");
  const [stateText, stateClass] = statusLabel(car);
  setHtml($("detail-body"), `
    <div class="d-head" style="${swatchStyle(car.class_name)}">
      ${pinButton(car.number)}<span class="pos">${car.position}</span><span class="num ${patternOf(car.class_name)}">${esc(car.number)}</span>
      <span class="cls">${esc(car.class_name)}${car.sub_class ? ` ${esc(car.sub_class)}` : ""}</span>
      <span>${esc(car.car)} · ${esc(car.manufacturer)}</span> <span class="state ${stateClass}">${esc(stateText)}</span>
    </div>
    <dl class="d-facts">
      <dt>In class</dt><dd>${car.class_position}${car.sub_class_position ? ` (${esc(car.sub_class)} ${car.sub_class_position})` : ""}</dd>
      <dt>Laps</dt><dd>${car.laps}</dd>
      <dt>Gap</dt><dd>${car.position === 1 ? "Leader" : esc(penaltyGap(car.gap, car, c.cars[0]))}</dd>
      <dt>Interval</dt><dd>${car.position === 1 ? "" : esc(penaltyGap(car.interval, car, c.cars[c.cars.indexOf(car) - 1]))}</dd>
      <dt>Last lap</dt><dd class="lap">${lapTime(car.last_lap_ms)}</dd>
      <dt>Best lap</dt><dd class="lap">${lapTime(car.best_lap_ms)}${car.best_lap ? ` (lap ${car.best_lap})` : ""}</dd>
      <dt>Ideal lap</dt><dd class="lap">${lapTime(car.ideal_lap_ms)}</dd>
      <dt>Pit stops</dt><dd>${car.pit_stops} · ${clock(car.pit_time_ms)} in the lane · ${car.laps_since_pit} laps since</dd>
      <dt>Penalties</dt><dd>${car.penalty_time_ms ? `+${seconds(car.penalty_time_ms)} in the gaps` : "none"}</dd>
      ${car.scoreboard_laps ? `<dt>Scoreboard laps</dt><dd>${car.scoreboard_laps} (from the timing system's scoreboard: distance only)</dd>` : ""}
      ${car.scoreboard_position ? `<dt>Scoreboard</dt><dd>P${car.scoreboard_position}${(car.disagreements || []).map((d) => ` · ${esc(d.what.replace("_", " "))}: ours ${d.what === "best_lap" ? lapTime(d.ours) : esc(d.ours ?? "—")}, scoreboard ${d.what === "best_lap" ? lapTime(d.scoreboard) : esc(d.scoreboard ?? "—")}`).join("")}</dd>` : ""}
    </dl>
    ${(car.last_sectors_ms || []).length ? `<section><h3>Sectors</h3><table class="d-sectors">
      <tr><th scope="row">Last</th>${sectorsRow(car.last_sectors_ms, (s, i) => sectorClass(s, i, car, c))}</tr>
      <tr><th scope="row">Best</th>${sectorsRow(car.best_sectors_ms, (s, i) => (c.best_sectors_ms[i] === s ? "sb" : "pb"))}</tr></table></section>` : ""}
    <section><h3>Crew</h3><table class="d-crew">${crew}</table></section>
    <section><h3>Stints</h3>${stints ? `<table class="d-stints"><tr><th scope="col">#</th><th scope="col">Driver</th><th scope="col">Laps</th><th scope="col">n</th><th scope="col">Time</th></tr>${stints}</table>` : `<p class="muted">None yet.</p>`}</section>
    <section><h3>Pit stops</h3>${stops ? `<table class="d-stops">${stops}</table>` : `<p class="muted">None.</p>`}</section>
    <section><h3>Penalties &amp; decisions</h3>${decisions ? `<table class="d-decisions">${decisions}</table>` : `<p class="muted">None.</p>`}</section>
    ${lapHistory(car, c)}`);
}

// -- controls ------------------------------------------------------------------------------

$("class-filter").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-class]");
  if (!button) return;
  state.classFilter = button.dataset.class;
  keepInAddress("class", state.classFilter);
  state.battle.chosen = false;
  renderClassFilter();
  render();
});

// The favourite toggle, in the tower's rows and in the car detail (on a phone, where the tower has no pin column).
function pinButton(number) {
  const pinned = state.pinned.has(number);
  const n = esc(number);
  return `<button type="button" class="pin" data-pin="${n}" aria-pressed="${pinned}" aria-label="${pinned ? "unpin" : "pin"} car ${n}">${pinned ? "★" : "☆"}</button>`;
}

function togglePin(event) {
  const pin = event.target.closest("button[data-pin]");
  if (!pin) return false;
  const number = pin.dataset.pin;
  if (state.pinned.has(number)) state.pinned.delete(number);
  else state.pinned.add(number);
  savePinned();
  render();
  return true;
}

function rowOf(target) {
  return target.closest("tr[data-number]");
}

$("detail-body").addEventListener("click", togglePin);

for (const body of ["tower-body", "pinned-body"]) {
  $(body).addEventListener("click", (event) => {
    if (togglePin(event)) return;
    const row = rowOf(event.target);
    if (row) openDetail(row.dataset.number, row.dataset.number);
  });
  $(body).addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-number]");
    if (!row || event.target !== row) return;
    const rows = [...document.querySelectorAll("#pinned-body tr, #tower-body tr")];
    const index = rows.indexOf(row);
    const go = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: rows.length - 1 }[event.key];
    if (go !== undefined) {
      event.preventDefault();
      rows[Math.max(0, Math.min(rows.length - 1, go))].focus();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openDetail(row.dataset.number, row.dataset.number);
    }
  });
}

$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.detail !== null) closeDetail();
});

for (const side of ["a", "b"]) {
  $(`battle-${side}`).addEventListener("change", (event) => {
    state.battle[side] = event.target.value;
    state.battle.chosen = true;
    state.battle.lastGap = null;
    keepInAddress(side, event.target.value);
    render();
  });
}

$("standings-table").addEventListener("change", (event) => {
  state.standingsTable = event.target.value;
  keepInAddress("table", state.standingsTable);
  renderStandings();
});

$("session-select").addEventListener("change", (event) => {
  const next = new URLSearchParams(location.search);
  next.set("session", event.target.value);
  next.delete("car");
  location.search = next.toString();
});

$("delay").addEventListener("change", (event) => {
  const next = new URLSearchParams(location.search);
  const value = Math.max(0, Math.min(600, Math.round(Number(event.target.value) || 0)));
  if (value) next.set("delay", String(value));
  else next.delete("delay");
  location.search = next.toString(); // a new delay starts a new feed: what was held is shown again, delayed
});

if (state.detail !== null) $("detail").hidden = false;
start();
