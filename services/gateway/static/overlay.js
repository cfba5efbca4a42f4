// Broadcast overlays: /overlay/tower, /overlay/battle, /overlay/leaders, /overlay/standings (transparent pages).
//
// OBS: add a browser source with the address (?session=KEY&token=T, and the options below); it shows at once.
// CasparCG: load it as an HTML template with ?autoplay=0; the template contract is the global functions
// play() (show), stop() (hide), next() (the next page of the tower, the next pair of the battle, the next
// table of the standings) and update(data) (options as JSON, or CasparCG's <templateData> XML: a
// componentData id per option). Options: session, token, class, rows (per page), a, b (the battle's cars),
// table (a standings table's label), delay (seconds of broadcast delay), gap (gap | interval).
"use strict";

import { battleGap, esc, lapTime, penaltyGap, statusLabel, surname } from "./format.js";
import { LiveSession, api, latestSession, palette } from "./live.js";

const kind = location.pathname.split("/").pop();
const root = document.getElementById("overlay");
root.dataset.kind = kind;
const STANDINGS_EVERY_MS = 10000;

const query = new URLSearchParams(location.search);
const options = Object.fromEntries(query.entries());
const view = { shown: options.autoplay !== "0", page: 0, pair: 0, table: 0, swatches: {}, classes: "", standings: [] };
let live = null;
let standingsTimer = null;
let connecting = 0; // the latest connect(): one still asking for the latest session gives way to it

function showing(shown) {
  view.shown = shown;
  root.dataset.shown = String(shown);
}

function swatchStyle(name) {
  const swatch = view.swatches[name];
  return swatch ? `--cls:${swatch.colour};--cls-text:${swatch.text}` : "--cls:#8792a8;--cls-text:#000";
}

function pattern(name) {
  const swatch = view.swatches[name];
  return swatch ? `pat-${swatch.pattern}` : "pat-solid";
}

async function connect() {
  const mine = ++connecting;
  if (live) live.close();
  clearInterval(standingsTimer);
  const token = options.token || "";
  const session = options.session || (await latestSession(token).catch(() => null));
  // update() named a session while this one asked for the latest (CasparCG sends it as the page loads): the
  // session named is the one to show, not the latest
  if (mine !== connecting) return;
  if (!session) {
    setTimeout(connect, 2000);
    return;
  }
  options.session = session;
  live = new LiveSession({
    session,
    token,
    delayMs: Math.max(0, Number(options.delay) || 0) * 1000,
    onValue: (value) => {
      const classes = [...new Set(value.cars.map((car) => car.class_name))].sort().join("|");
      if (classes !== view.classes) {
        view.classes = classes;
        palette(session, token).then((swatches) => {
          view.swatches = swatches;
          render();
        }).catch(() => {});
      }
      render();
    },
  });
  live.start();
  if (kind === "standings") {
    refreshStandings();
    standingsTimer = setInterval(refreshStandings, STANDINGS_EVERY_MS);
  }
}

async function refreshStandings() {
  try {
    const response = await api(`/api/standings/live?session=${encodeURIComponent(options.session)}`, options.token || "");
    if (response.ok) {
      view.standings.push(await response.json());
      if (view.standings.length > 8) view.standings.shift();
    }
  } catch {
    // shown when available
  }
  render();
}

function cars(value) {
  return options.class ? value.cars.filter((car) => car.class_name === options.class) : value.cars;
}

function row(car, leader, ahead) {
  const gap = options.class ? (options.gap === "interval" ? car.class_interval : car.class_gap) : options.gap === "interval" ? car.interval : car.gap;
  const against = options.gap === "interval" ? ahead : leader;
  const [label, kind] = statusLabel(car);
  const first = (options.class ? car.class_position : car.position) === 1;
  return `<div class="o-row ${pattern(car.class_name)}" style="${swatchStyle(car.class_name)}" data-number="${esc(car.number)}">
    <span class="o-pos">${options.class ? car.class_position : car.position}</span><span class="o-num">${esc(car.number)}</span>
    <span class="o-name">${esc(surname(car.driver || car.team))}</span>${label ? `<span class="o-state ${kind}">${esc(label)}</span>` : ""}
    <span class="o-time mono">${first ? esc(lapTime(car.last_lap_ms)) : esc(penaltyGap(gap, car, against))}</span></div>`;
}

function renderTower(value) {
  const list = cars(value);
  const size = Math.max(1, Number(options.rows) || 10);
  const pages = Math.max(1, Math.ceil(list.length / size));
  const page = view.page % pages;
  const rows = list.slice(page * size, page * size + size).map((car) => {
    const index = list.indexOf(car);
    return row(car, list[0], index > 0 ? list[index - 1] : null);
  });
  const title = options.class ? esc(options.class) : esc(value.name);
  return `<div class="o-head">${title}${pages > 1 ? ` <span class="mono">${page + 1}/${pages}</span>` : ""}</div>${rows.join("")}`;
}

function renderBattle(value) {
  const list = cars(value);
  let ahead = list.find((car) => car.number === options.a);
  let behind = list.find((car) => car.number === options.b);
  if (!ahead || !behind) {
    const at = view.pair % Math.max(1, list.length - 1);
    [ahead, behind] = [list[at], list[at + 1]];
  }
  if (!ahead || !behind) return "";
  if (behind.position < ahead.position) [ahead, behind] = [behind, ahead];
  const { gap } = battleGap(value, ahead, behind); // as the page's battle view: a gap only where the rows give one
  const place = (car) => (options.class ? car.class_position : car.position);
  const side = (car) => `<div class="b-side ${pattern(car.class_name)}" style="${swatchStyle(car.class_name)}" data-number="${esc(car.number)}">
    <span class="o-pos">${place(car)}</span><span class="o-num">${esc(car.number)}</span>
    <span class="o-name">${esc(surname(car.driver || car.team))}</span></div>`;
  const between = gap ? penaltyGap(gap, behind, ahead) : `P${place(ahead)} · P${place(behind)}`;
  const label = gap ? "GAP" : "POSITIONS";
  return `<div class="battle">${side(ahead)}<div class="b-gap"><small>${label}</small><span class="mono">${esc(between)}</span></div>${side(behind)}</div>`;
}

function renderLeaders(value) {
  const leaders = value.cars.filter((car) => car.class_position === 1);
  return `<div class="o-head">Class leaders</div>${leaders
    .map((car) => `<div class="o-row ${pattern(car.class_name)}" style="${swatchStyle(car.class_name)}" data-number="${esc(car.number)}">
      <span class="o-cls">${esc(car.class_name)}</span><span class="o-num">${esc(car.number)}</span>
      <span class="o-name">${esc(car.driver || car.team)}</span><span class="o-time mono">${esc(lapTime(car.best_lap_ms))}</span></div>`)
    .join("")}`;
}

const STATES = { as_it_stands: "AS IT STANDS", provisional: "PROVISIONAL", final: "FINAL" };

function renderStandings(value) {
  const shownSeq = value.last_seq;
  const page = [...view.standings].reverse().find((s) => (s.standings.sequences[options.session] ?? 0) <= shownSeq);
  if (!page || !page.tables.length) return "";
  const wanted = page.tables.findIndex((t) => t.label === options.table);
  const index = (Math.max(0, wanted) + view.table) % page.tables.length; // next() steps on from the table asked for
  const table = page.tables[index];
  const size = Math.max(1, Number(options.rows) || 10);
  return `<div class="o-head">${esc(table.label)} · ${STATES[page.state] || ""}</div>${table.rows
    .slice(0, size)
    .map((r) => `<div class="st-row"><span class="o-pos">${esc(r.position)}</span><span class="o-name">${esc(r.name)}</span>
      <span class="st-pts mono">${esc(r.points)}${r.live_points ? `<span class="st-live">+${esc(r.live_points)}</span>` : ""}</span></div>`)
    .join("")}`;
}

const RENDER = { tower: renderTower, battle: renderBattle, leaders: renderLeaders, standings: renderStandings };

function render() {
  const value = live && live.value;
  if (!value) return;
  const html = (RENDER[kind] || (() => ""))(value);
  if (root.dataset.html !== html) {
    root.innerHTML = html;
    root.dataset.html = html;
  }
  root.dataset.seq = String(value.last_seq);
}

// -- the CasparCG template contract (OBS needs none of it) ------------------------------------

function parsed(data) {
  if (data === null || data === undefined || data === "") return {};
  if (typeof data === "object") return data;
  const text = String(data).trim();
  if (text.startsWith("<")) {
    const xml = new DOMParser().parseFromString(text, "application/xml");
    const found = {};
    for (const component of xml.querySelectorAll("componentData")) {
      const item = component.querySelector("data");
      if (item) found[component.getAttribute("id")] = item.getAttribute("value");
    }
    return found;
  }
  return JSON.parse(text);
}

window.play = () => showing(true);
window.stop = () => showing(false);
window.next = () => {
  view.page += 1;
  view.pair += 1;
  view.table += 1;
  render();
};
window.update = (data) => {
  const changes = parsed(data);
  const reconnect = ["session", "token", "delay"].some((key) => key in changes && changes[key] !== options[key]);
  Object.assign(options, changes);
  view.page = 0;
  view.pair = 0;
  view.table = 0;
  if (reconnect) connect();
  else render();
};

showing(view.shown);
connect();
