// A session's live classification for the page and the overlays: the stream, the broadcast delay, the clock.
//
// The stream is an EventSource: the browser reconnects by itself and resumes with Last-Event-ID; if it gives up
// (the stream was refused), it is reopened with ?since=<last seq received> after a pause. The first message is
// a snapshot (the whole classification); each update is a delta from the value before, applied whole.
//
// Broadcast delay: every message is held `delayMs` after it arrived before it is shown, so everything a screen
// shows (order, flags, messages, the clock, the standings filtered by sequence) matches a delayed TV picture.
//
// The clock runs locally between values: the session's own timing clock (the latest crossing, never an instant
// a race-control input was stamped with) plus the time the gateway's clock has run since it took that value
// (the gateway's wall clock, from the offset to ours that each message gives). It stops at the chequered flag,
// and when no value has been shown for `staleMs` while the session runs (STALE; not under a red flag, when the
// cars stop and nothing is expected).

const REOPEN_MS = 2000;
const OFFSET_SAMPLES = 50;
export const ABSURD_MS = 7 * 24 * 3600 * 1000; // a session clock beyond a week is a wrong instant, not a session

export class LiveSession {
  constructor({ session, token, delayMs = 0, staleMs = 60000, onValue = () => {}, onState = () => {}, arrivals = null }) {
    this.session = session;
    this.token = token;
    this.delayMs = delayMs;
    this.staleMs = staleMs;
    this.onValue = onValue;
    this.onState = onState;
    this.value = null; // the classification shown (delayed)
    this.shownSeq = null;
    this.receivedSeq = null; // the chain of messages received: what a resume continues from
    this.queue = []; // [{message, due}] held for the broadcast delay, in order
    this.timer = null;
    this.source = null;
    this.offsets = []; // gateway wall clock minus ours, one sample a message
    this.anchor = null; // {timing, server}: the latest crossing shown, and the gateway's time when it took it
    this.shownAt = null; // performance.now() when the latest value was shown
    this.lastAt = null;
    this.frozenClock = null;
    this.connection = "connecting";
    this.arrivals = arrivals; // [seq, epoch ms] of each message as it arrives (the page benchmark), or null
    this.staleTimer = setInterval(() => this.checkStale(), 500);
  }

  start() {
    this.open();
  }

  close() {
    if (this.source) this.source.close();
    clearInterval(this.staleTimer);
    clearTimeout(this.timer);
  }

  setState(state) {
    if (state === this.connection) return;
    this.connection = state;
    this.onState(state);
  }

  open() {
    if (this.source) this.source.close();
    const query = new URLSearchParams({ token: this.token });
    if (this.receivedSeq !== null) query.set("since", String(this.receivedSeq));
    const source = new EventSource(`/api/sessions/${encodeURIComponent(this.session)}/stream?${query}`);
    this.source = source;
    source.onopen = () => this.setState("live");
    const received = (event) => this.receive(JSON.parse(event.data));
    source.addEventListener("snapshot", received);
    source.addEventListener("update", received);
    source.onerror = () => {
      this.setState("reconnecting");
      if (source.readyState === EventSource.CLOSED) setTimeout(() => this.open(), REOPEN_MS);
    };
  }

  receive(message) {
    if (this.arrivals) this.arrivals.push([message.seq, performance.timeOrigin + performance.now()]);
    const sent = message.sent_ms || message.taken_ms;
    if (sent) {
      this.offsets.push(sent - Date.now());
      if (this.offsets.length > OFFSET_SAMPLES) this.offsets.shift();
    }
    if (message.kind === "update") {
      if (this.receivedSeq !== null && message.seq <= this.receivedSeq) return; // already held
      if (this.receivedSeq === null || message.base_seq !== this.receivedSeq) {
        // not a delta of what we hold (should not happen): start again from a snapshot
        this.receivedSeq = null;
        this.open();
        return;
      }
    }
    this.receivedSeq = message.seq;
    this.queue.push({ message, due: performance.now() + this.delayMs });
    if (this.delayMs <= 0) this.release();
    else this.schedule();
  }

  schedule() {
    if (this.timer !== null || !this.queue.length) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.release();
      this.schedule();
    }, Math.max(0, this.queue[0].due - performance.now()));
  }

  release() {
    const now = performance.now();
    let shown = false;
    while (this.queue.length && this.queue[0].due <= now) {
      const { message } = this.queue.shift();
      if (message.kind === "snapshot") {
        this.value = message.classification;
        this.anchor = null; // a new start (a gap, a rebuilt bucket): the clock starts again from this value
        this.lastAt = null;
      } else {
        this.value = merged(this.value, message);
      }
      this.shownSeq = message.seq;
      // a snapshot's latest crossing was first taken at crossing_ms (a later value may only carry a message)
      this.noteCrossing(this.value, message.crossing_ms || message.taken_ms || message.sent_ms || this.serverNow());
      shown = true;
    }
    if (shown) {
      this.shownAt = now;
      this.frozenClock = null;
      if (this.connection === "stale") this.setState("live");
      this.onValue(this.value);
    }
  }

  // The gateway's wall clock now, less the broadcast delay (what the delayed picture's clock shows).
  serverNow() {
    const offset = this.offsets.length ? Math.max(...this.offsets) : 0;
    return Date.now() + offset - this.delayMs;
  }

  noteCrossing(value, takenMs) {
    let latest = value.started_at;
    for (const car of value.cars) {
      if (car.last_crossing !== null && (latest === null || car.last_crossing > latest)) latest = car.last_crossing;
    }
    if (latest !== null && (!this.anchor || latest > this.anchor.timing)) this.anchor = { timing: latest, server: takenMs };
  }

  running() {
    const value = this.value;
    return value !== null && value.started_at !== null && (value.phase === "running" || value.phase === "finishing");
  }

  // Under a red flag (or a suspension) the cars stop and nothing is expected: silence is not staleness.
  stopped() {
    return this.value !== null && (this.value.flag === "red" || this.value.suspended);
  }

  checkStale() {
    if (this.running() && !this.stopped() && this.shownAt !== null && performance.now() - this.shownAt > this.staleMs) {
      if (this.connection !== "stale") {
        this.frozenClock = this.clockNow();
        this.setState("stale");
      }
    }
  }

  // Milliseconds since the start on the session's clock now, or null before the start (or for an absurd instant).
  clockNow() {
    const value = this.value;
    if (!value || value.started_at === null) return null;
    if (this.frozenClock !== null) return this.frozenClock;
    let at;
    if (value.chequered_at !== null) at = value.chequered_at; // the clock stops at the flag
    else if (!this.anchor) at = value.started_at;
    else if (value.phase === "finished") at = this.anchor.timing;
    else at = Math.max(this.anchor.timing + Math.max(0, this.serverNow() - this.anchor.server), this.lastAt ?? 0);
    this.lastAt = value.chequered_at === null ? at : null; // a running clock never goes back
    const elapsed = at - value.started_at;
    return elapsed < 0 || elapsed > ABSURD_MS ? null : elapsed;
  }
}

// A snapshot replaces what we hold; an update is a delta from the value of its base_seq, applied whole
// (head taken as is, rows merged by number, removed numbers dropped, rows ordered by position).
export function merged(held, update) {
  const rows = new Map(held.cars.map((car) => [car.number, car]));
  for (const number of update.removed || []) rows.delete(number);
  for (const car of update.cars || []) rows.set(car.number, car);
  const cars = [...rows.values()].sort((a, b) => a.position - b.position);
  return { ...update.head, cars };
}

export async function api(path, token) {
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status === 401) throw new Error("unauthorized");
  return response;
}

// Each class's swatch ({colour, text, pattern}) from the gateway: one palette for every screen.
export async function palette(session, token) {
  const response = await api(`/api/sessions/${encodeURIComponent(session)}/palette`, token);
  return response.ok ? (await response.json()).classes : {};
}

export async function latestSession(token) {
  const response = await api("/api/sessions", token);
  const listed = (await response.json()).sessions;
  return listed.length ? listed[0].key : null;
}

export function numberParam(params, name, fallback) {
  const value = Number(params.get(name));
  return params.has(name) && Number.isFinite(value) && value >= 0 ? value : fallback;
}
