// How times, gaps and labels read on the page and the overlays (the same words as the terminal tower).

export const PENALTY_MARK = "*";
export const PENALTY_NOTE = `${PENALTY_MARK} includes time penalties`;

export const FLAGS = {
  green: "GREEN FLAG", yellow: "YELLOW", full_course_yellow: "FULL COURSE YELLOW",
  safety_car: "SAFETY CAR", red: "RED FLAG", chequered: "CHEQUERED FLAG", unknown: "NO FLAG",
};
export const STATES = {
  not_started: ["", ""], running: ["", ""], in_pit: ["PIT", "pit"], out_lap: ["OUT", "out"],
  retired: ["RET", "ret"], finished: ["🏁", "fin"], stopped: ["STOP", "stop"],
};
// a result outside the classified group is shown instead of the car's state
export const STATUSES = {
  nc: ["NC", "nc"], dnf: ["DNF", "dnf"], dns: ["DNS", "dns"], dsq: ["DSQ", "dsq"], excluded: ["EXCL", "dsq"],
};
export const CATEGORIES = { platinum: "PLAT", gold: "GOLD", silver: "SILV", bronze: "BRNZ", unrated: "" };

export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function lapTime(ms) {
  if (ms === null || ms === undefined) return "";
  const minutes = Math.floor(ms / 60000);
  const rest = ms % 60000;
  return `${minutes}:${String(Math.floor(rest / 1000)).padStart(2, "0")}.${String(rest % 1000).padStart(3, "0")}`;
}

export function sectorTime(ms) {
  if (ms === null || ms === undefined) return "";
  return ms < 60000 ? `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}` : lapTime(ms);
}

export function gapText(gap) {
  if (gap === null || gap === undefined) return "";
  if (gap.laps) return `+${gap.laps} lap${gap.laps > 1 ? "s" : ""}`;
  const sign = (gap.ms || 0) < 0 ? "-" : "+"; // behind in the order, ahead on time: a position drop
  const ms = Math.abs(gap.ms || 0);
  return ms < 60000 ? `${sign}${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}` : `${sign}${lapTime(ms)}`;
}

// A gap that includes a time penalty of the car or of the car it is measured against is marked.
export function penaltyGap(gap, car, other) {
  const text = gapText(gap);
  return text && (car.penalty_time_ms || (other && other.penalty_time_ms)) ? text + PENALTY_MARK : text;
}

export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${h}:${String(m).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
}

export function seconds(ms) {
  return ms % 1000 ? `${(ms / 1000).toFixed(3).replace(/0+$/, "")} s` : `${ms / 1000} s`;
}

export function statusLabel(car) {
  return STATUSES[car.status] || STATES[car.state] || ["", ""];
}

// The sector's colour: the session's best (purple), the car's best (green), or neither.
export function sectorClass(ms, sector, car, session) {
  if (ms === null || ms === undefined) return "";
  if (session.best_sectors_ms && session.best_sectors_ms[sector] === ms) return "sb";
  if (car.best_sectors_ms && car.best_sectors_ms[sector] === ms) return "pb";
  return "";
}

export function idealLap(sectors) {
  if (!sectors || !sectors.length || sectors.some((s) => s === null || s === undefined)) return null;
  return sectors.reduce((total, s) => total + s, 0);
}

export function surname(name) {
  if (!name) return "";
  const parts = name.trim().split(/\s+/);
  return parts.length > 1 ? parts.slice(1).join(" ") : parts[0];
}

// The gap between two cars, as the tower gives it: behind the leader (overall or of its class), its gap; behind
// the car just ahead (overall or in the class), its interval; for two cars on the same lap, the difference of
// their race times at the line (where both crossed it last); else the difference of their gaps to the leader when
// both are times. Anything else (a lap down on one side only) is not known from the rows: no gap rather than a
// made-up one. The page's battle view and the battle overlay both take it.
export function battleGap(c, ahead, behind) {
  if (c.cars[0] === ahead) return { gap: behind.gap, exact: true };
  const inClass = c.cars.filter((car) => car.class_name === behind.class_name);
  if (inClass[0] === ahead) return { gap: behind.class_gap, exact: true };
  if (c.cars[c.cars.indexOf(behind) - 1] === ahead) return { gap: behind.interval, exact: true };
  if (inClass[inClass.indexOf(behind) - 1] === ahead) return { gap: behind.class_interval, exact: true };
  if (ahead.laps === behind.laps && ahead.total_time_ms !== null && behind.total_time_ms !== null) {
    return { gap: { ms: behind.total_time_ms - ahead.total_time_ms }, exact: true };
  }
  const a = ahead.gap;
  const b = behind.gap;
  if (a && b && !a.laps && !b.laps) return { gap: { ms: (b.ms || 0) - (a.ms || 0) }, exact: false };
  return { gap: null, exact: false };
}
