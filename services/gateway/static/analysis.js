// chequered analysis page: lap chart, race trace, lap times and stints of a session, drawn with uPlot
// (vendored in /static/vendor/uplot), updated live. Vanilla JS, no build step.
// Reads ?session=KEY (default: the most recent session), ?token=T (needed for every data request), ?class=NAME.
// The stream (EventSource) sends a "series" (every lap so far) first, then an "update" with the laps placed since;
// a lap once sent never changes in an update: when one must, a new "series" replaces everything.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const $ = (id) => document.getElementById(id);

  const REOPEN_MS = 2000;
  const DRAW_EVERY_MS = 400;
  const LAP_TIMES_CARS = 3;
  const PALETTE = ["#1f6fff", "#f2b705", "#e5172f", "#00a651", "#8b3dff", "#ff8a00", "#00b8d9", "#ff4fa3",
    "#9aa5b1", "#b87333", "#7ddc1f", "#ff6f61"];
  const DRIVER_COLOURS = ["#5fa8ff", "#ffd166", "#06d6a0", "#ef476f"];
  const NEUTRAL = new Set(["yellow", "full_course_yellow", "safety_car", "red"]);
  // a point: [number, lap, at, lap_ms, position, class_position, gap_ms, class_gap_ms, laps_down, class_laps_down, marks]
  const P = { number: 0, lap: 1, at: 2, lapMs: 3, pos: 4, classPos: 5, gap: 6, classGap: 7, marks: 10 };
  const NOT_PACE = 1 | 2 | 4 | 8; // in-lap, out-lap, neutralised, not valid

  const state = {
    session: params.get("session"),
    seq: null,
    name: "",
    startedAt: null,
    asOf: 0,
    flags: [],
    heads: new Map(), // number -> {number, class_name, team, driver}
    points: new Map(), // number -> [point, ...] in lap order
    stints: new Map(), // number -> {stints, stops}
    classFilter: params.get("class") || "",
    picked: [],
    pace: true,
    charts: {},
    drawTimer: null,
    source: null,
  };

  const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function lapTime(ms) {
    if (ms === null || ms === undefined) return "";
    const minutes = Math.floor(ms / 60000);
    const rest = ms % 60000;
    return `${minutes}:${String(Math.floor(rest / 1000)).padStart(2, "0")}.${String(rest % 1000).padStart(3, "0")}`;
  }

  function classes() {
    return [...new Set([...state.heads.values()].map((h) => h.class_name))].sort();
  }

  function classColour(name) {
    return PALETTE[Math.max(0, classes().indexOf(name)) % PALETTE.length];
  }

  // The running order now: most laps first, then who crossed the line first.
  function order() {
    const latest = [...state.heads.keys()].map((number) => {
      const laps = state.points.get(number) || [];
      const last = laps[laps.length - 1];
      return { number, lap: last ? last[P.lap] : 0, at: last ? last[P.at] : Infinity };
    });
    latest.sort((a, b) => b.lap - a.lap || a.at - b.at);
    return latest.map((c) => c.number);
  }

  function visible() {
    return order().filter((n) => !state.classFilter || state.heads.get(n).class_name === state.classFilter);
  }

  // -- the stream -------------------------------------------------------------------

  async function chooseSession() {
    if (!state.session) {
      try {
        const response = await fetch("/api/sessions", { headers: { Authorization: `Bearer ${token}` } });
        if (response.status === 401) {
          $("empty").textContent = "A read token is needed: open this page with ?token=…";
          return;
        }
        state.session = ((await response.json()).sessions[0] || {}).key || null;
      } catch (err) {
        state.session = null;
      }
      if (!state.session) {
        $("empty").textContent = "No session yet…";
        setTimeout(chooseSession, REOPEN_MS);
        return;
      }
    }
    $("live-link").href = `/?${new URLSearchParams({ session: state.session, token })}`;
    openStream();
  }

  function openStream() {
    if (state.source) state.source.close();
    const query = new URLSearchParams({ token });
    const source = new EventSource(`/api/sessions/${encodeURIComponent(state.session)}/analysis/stream?${query}`);
    state.source = source;
    source.addEventListener("series", (event) => takeSeries(JSON.parse(event.data)));
    source.addEventListener("update", (event) => takeUpdate(JSON.parse(event.data)));
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(openStream, REOPEN_MS);
    };
  }

  function takeSeries(series) {
    state.seq = series.seq;
    state.name = series.name;
    state.startedAt = series.started_at;
    state.asOf = series.as_of;
    state.flags = series.flag_periods;
    state.heads = new Map(series.cars.map((h) => [h.number, h]));
    state.points = new Map();
    for (const point of series.points) addPoint(point);
    state.stints = new Map(series.stints.map((s) => [s.number, s]));
    scheduleDraw();
  }

  function takeUpdate(update) {
    if (update.base_seq !== state.seq) {
      openStream(); // not the value we hold: start again from a series
      return;
    }
    state.seq = update.seq;
    state.asOf = update.as_of;
    state.flags = update.flag_periods;
    for (const head of update.cars) state.heads.set(head.number, head);
    for (const point of update.points) addPoint(point);
    for (const s of update.stints) state.stints.set(s.number, s);
    scheduleDraw();
  }

  function addPoint(point) {
    const number = point[P.number];
    if (!state.points.has(number)) state.points.set(number, []);
    state.points.get(number).push(point);
  }

  function scheduleDraw() {
    if (state.drawTimer === null) state.drawTimer = setTimeout(draw, DRAW_EVERY_MS);
  }

  // -- drawing ----------------------------------------------------------------------

  function draw() {
    state.drawTimer = null;
    $("session-name").textContent = state.name;
    const elapsed = state.startedAt ? Math.floor((state.asOf - state.startedAt) / 1000) : 0;
    const h = Math.floor(elapsed / 3600);
    const m = String(Math.floor((elapsed % 3600) / 60)).padStart(2, "0");
    $("session-meta").textContent = `${state.session} · ${h}:${m} · seq ${state.seq}`;
    const flag = state.flags.length ? state.flags[state.flags.length - 1].flag : "unknown";
    $("flag").dataset.flag = flag;
    $("flag").textContent = flag.replace(/_/g, " ");
    drawClassFilter();
    const cars = visible();
    const laps = cars.reduce((total, n) => total + (state.points.get(n) || []).length, 0);
    $("empty").textContent = laps ? "" : "Waiting for the session's laps…";
    drawLapChart(cars);
    drawRaceTrace(cars);
    drawLapTimes(cars);
    drawStints(cars);
    const charts = $("charts");
    charts.dataset.laps = String(laps);
    charts.dataset.seq = String(state.seq);
  }

  function drawClassFilter() {
    const names = ["", ...classes()];
    const box = $("class-filter");
    const signature = names.join("|") + "#" + state.classFilter;
    if (box.dataset.signature === signature) return;
    box.dataset.signature = signature;
    box.innerHTML = names.map((name) => {
      const colour = name ? classColour(name) : "#e8ecf3";
      const active = name === state.classFilter ? " active" : "";
      return `<button class="chip${active}" style="--c:${colour}" data-class="${esc(name)}">${esc(name || "All")}</button>`;
    }).join("");
    for (const button of box.querySelectorAll("button")) {
      button.onclick = () => {
        state.classFilter = button.dataset.class;
        state.picked = [];
        draw();
      };
    }
  }

  function lapAxis(cars) {
    let last = 0;
    for (const n of cars) for (const p of state.points.get(n) || []) last = Math.max(last, p[P.lap]);
    return Array.from({ length: last }, (_, i) => i + 1);
  }

  // One uPlot per chart, made again only when what it shows changes (its series), else given new data.
  function plot(id, series, data, options) {
    const el = $(id);
    const width = Math.max(200, el.clientWidth);
    const signature = `${width}|${series.map((s) => s.label).join(",")}|${options.key || ""}`;
    const held = state.charts[id];
    const points = data.slice(1).reduce((total, ys) => total + ys.filter((y) => y !== null).length, 0);
    el.dataset.laps = String(points);
    if (held && held.signature === signature) {
      held.chart.setData(data);
      return;
    }
    if (held) held.chart.destroy();
    const chart = new uPlot({
      width,
      height: Math.round(Math.min(340, Math.max(200, width * 0.62))),
      legend: { show: false },
      scales: { x: { time: false }, y: { dir: options.invert ? -1 : 1, ...(options.y || {}) } },
      axes: [
        { stroke: "#8792a8", grid: { stroke: "#1f2a40" }, ticks: { stroke: "#1f2a40" }, label: options.x, labelSize: 18 },
        { stroke: "#8792a8", grid: { stroke: "#1f2a40" }, ticks: { stroke: "#1f2a40" }, size: 44 },
      ],
      series: [{}, ...series],
      hooks: options.hooks || {},
    }, data, el);
    state.charts[id] = { chart, signature };
  }

  function carSeries(cars, width) {
    return cars.map((n) => ({
      label: `#${n}`,
      stroke: classColour(state.heads.get(n).class_name),
      width: width || 1,
      points: { show: false },
      spanGaps: false,
    }));
  }

  function byLap(cars, xs, value) {
    return cars.map((n) => {
      const ys = new Array(xs.length).fill(null);
      for (const p of state.points.get(n) || []) ys[p[P.lap] - 1] = value(p);
      return ys;
    });
  }

  function drawLapChart(cars) {
    const xs = lapAxis(cars);
    const field = state.classFilter ? P.classPos : P.pos;
    const range = (u, min, max) => [1, Math.max(2, max)];
    plot("lap-chart", carSeries(cars), [xs, ...byLap(cars, xs, (p) => p[field])], { invert: true, x: "lap", y: { range } });
  }

  function drawRaceTrace(cars) {
    const xs = lapAxis(cars);
    const field = state.classFilter ? P.classGap : P.gap;
    const seconds = (p) => (p[field] === null ? null : p[field] / 1000);
    plot("race-trace", carSeries(cars), [xs, ...byLap(cars, xs, seconds)], { invert: true, x: "lap" });
  }

  function drawCarPicker(cars) {
    state.picked = state.picked.filter((n) => cars.includes(n));
    if (!state.picked.length) state.picked = cars.slice(0, LAP_TIMES_CARS);
    const box = $("car-picker");
    const signature = cars.join(",") + "#" + state.picked.join(",");
    if (box.dataset.signature === signature) return;
    box.dataset.signature = signature;
    box.innerHTML = cars.map((n, i) => {
      const active = state.picked.includes(n) ? " active" : "";
      return `<button class="chip${active}" style="--c:${PALETTE[i % PALETTE.length]}" data-number="${esc(n)}">#${esc(n)}</button>`;
    }).join("");
    for (const button of box.querySelectorAll("button")) {
      button.onclick = () => {
        const n = button.dataset.number;
        state.picked = state.picked.includes(n) ? state.picked.filter((p) => p !== n) : [...state.picked, n];
        if (!state.picked.length) state.picked = [n];
        draw();
      };
    }
  }

  function shadeFlags(u) {
    if (state.startedAt === null) return;
    const ctx = u.ctx;
    ctx.save();
    for (const period of state.flags) {
      if (!NEUTRAL.has(period.flag)) continue;
      ctx.fillStyle = period.flag === "red" ? "rgba(213, 0, 0, 0.22)" : "rgba(255, 212, 0, 0.16)";
      const x0 = u.valToPos((period.start - state.startedAt) / 60000, "x", true);
      const x1 = u.valToPos(((period.end ?? state.asOf) - state.startedAt) / 60000, "x", true);
      ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
    }
    ctx.restore();
  }

  function drawLapTimes(cars) {
    drawCarPicker(cars);
    const colours = new Map(cars.map((n, i) => [n, PALETTE[i % PALETTE.length]]));
    const shown = state.picked;
    const keep = (p) => !state.pace || (p[P.marks] & NOT_PACE) === 0;
    const times = new Set();
    for (const n of shown) for (const p of state.points.get(n) || []) if (keep(p)) times.add(p[P.at]);
    const ats = [...times].sort((a, b) => a - b);
    const index = new Map(ats.map((at, i) => [at, i]));
    const xs = ats.map((at) => (at - (state.startedAt ?? ats[0])) / 60000);
    const ys = shown.map((n) => {
      const values = new Array(ats.length).fill(null);
      for (const p of state.points.get(n) || []) if (keep(p)) values[index.get(p[P.at])] = p[P.lapMs] / 1000;
      return values;
    });
    const series = shown.map((n) => ({
      label: `#${n}`, stroke: colours.get(n), width: 1.5, points: { show: true, size: 3 }, spanGaps: true,
    }));
    plot("lap-times", series, [xs, ...ys], { x: "race time (min)", key: String(state.pace), hooks: { drawClear: [shadeFlags] } });
  }

  function drawStints(cars) {
    const box = $("stints");
    const start = state.startedAt;
    if (start === null) {
      box.innerHTML = "";
      return;
    }
    const span = Math.max(1, state.asOf - start);
    box.innerHTML = cars.map((n) => {
      const head = state.heads.get(n);
      const drivers = [];
      const blocks = ((state.stints.get(n) || {}).stints || []).map((s) => {
        if (!drivers.includes(s.driver)) drivers.push(s.driver);
        const colour = DRIVER_COLOURS[drivers.indexOf(s.driver) % DRIVER_COLOURS.length];
        const left = ((s.start - start) / span) * 100;
        const width = (((s.end ?? state.asOf) - s.start) / span) * 100;
        const name = String(s.driver || "").split(" ").pop();
        const title = `${s.driver || "?"} · ${s.laps} laps · best ${lapTime(s.best_ms)} · average ${lapTime(s.average_ms)}`;
        return `<div class="stint" style="left:${left}%;width:${width}%;background:${colour}" title="${esc(title)}">${esc(name)}</div>`;
      }).join("");
      return `<div class="stint-row" data-number="${esc(n)}"><div class="stint-label" style="--c:${classColour(head.class_name)}">${esc(n)}</div><div class="stint-track">${blocks}</div></div>`;
    }).join("");
    box.dataset.cars = String(cars.length);
  }

  $("pace").onchange = (event) => {
    state.pace = event.target.checked;
    draw();
  };
  window.addEventListener("resize", () => {
    state.charts = Object.fromEntries(Object.entries(state.charts).map(([id, held]) => [id, { ...held, signature: "" }]));
    scheduleDraw();
  });
  chooseSession();
})();
