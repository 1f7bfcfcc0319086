/**
 * The chaos schedule: a pure function of a seed and a duration (and the shape of the bed), so
 * that a run can be repeated exactly by its printed seed. A schedule is a list of episodes, each
 * a few steps: wait, then act (switch a target, stop the API server, kill an agent, make the
 * webhook fail, ...), and `recover` steps where the runner waits until the view a client sees is
 * correct again and records how long that took (fault end → view correct).
 *
 * Waits are relative to the previous step; the runner adds the real recovery times, so the wall
 * clock of two runs differs while the sequence of actions and planned waits is identical.
 *
 * @module
 */

/** A kind of fault; the table of a run counts episodes by kind. */
export type FaultKind =
  | "target-kill"
  | "target-absent"
  | "target-restart"
  | "target-drop"
  | "target-hang"
  | "target-flap"
  | "all-down"
  | "api-stop"
  | "api-hang"
  | "api-blackhole"
  | "agent-kill"
  | "agent-term"
  | "webhook-429"
  | "webhook-5xx"
  | "webhook-hang"
  | "reload";

/** Every fault kind, in the order of the report. */
export const FAULT_KINDS: readonly FaultKind[] = [
  "target-kill",
  "target-absent",
  "target-restart",
  "target-drop",
  "target-hang",
  "target-flap",
  "all-down",
  "api-stop",
  "api-hang",
  "api-blackhole",
  "agent-kill",
  "agent-term",
  "webhook-429",
  "webhook-5xx",
  "webhook-hang",
  "reload",
];

/** How a simulated target treats connections (tests/support/targets.ts). */
export type TargetState = "accept" | "refuse" | "drop" | "hang" | "absent";

/** One thing the runner does. */
export type Action =
  | { readonly do: "target"; readonly target: number; readonly mode: TargetState }
  /**
   * stop/start: the API server process ends and starts again; hang/resume: SIGSTOP/SIGCONT (it
   * accepts connections and never answers); cut/mend: nftables drops every packet to and from
   * its port (a partition: connections time out).
   */
  | {
    readonly do: "api";
    readonly state: "stop" | "start" | "hang" | "resume" | "cut" | "mend";
  }
  | {
    readonly do: "agent-signal";
    readonly replica: number;
    readonly signal: "SIGKILL" | "SIGTERM";
  }
  | { readonly do: "agent-start"; readonly replica: number }
  | { readonly do: "webhook"; readonly answer: "ok" | "429" | "5xx" | "hang" }
  /** Rewrite the config file (same content, or `intervalMs` as the probe interval) and SIGHUP. */
  | { readonly do: "reload"; readonly replica: number; readonly intervalMs: number }
  /** Wait until the view is correct; `what` names the recovery in the report. */
  | { readonly do: "recover"; readonly what: string };

/** One step: wait `afterMs` after the previous step, then act. */
export interface Step {
  readonly afterMs: number;
  /** The episode this step belongs to (0-based). */
  readonly episode: number;
  /** The fault of that episode. */
  readonly fault: FaultKind;
  readonly action: Action;
}

/** The shape of the bed a schedule is drawn for. */
export interface ScheduleShape {
  /** Target indexes of each Service (a target belongs to one Service). */
  readonly services: readonly (readonly number[])[];
  /** How many agent replicas run. */
  readonly replicas: number;
  /**
   * How long a target must be dead to be sure to be seen (interval × fall + margin), ms:
   * kills last longer, restarts shorter.
   */
  readonly detectMs: number;
  /** The probe interval, ms (a reload may double it for one episode). */
  readonly intervalMs: number;
  /** Which kinds may be drawn (default every kind). */
  readonly kinds?: readonly FaultKind[];
}

/** A drawn schedule. */
export interface Schedule {
  readonly seed: number;
  readonly durationMs: number;
  readonly steps: readonly Step[];
  /** Episodes in the schedule. */
  readonly episodes: number;
  /** The fault of each episode. */
  readonly faults: readonly FaultKind[];
  /** Planned length: the sum of the waits (recoveries add to it; the run stops at the duration). */
  readonly plannedMs: number;
}

/** Relative weights of the kinds drawn (target faults are the common case). */
const WEIGHTS: Readonly<Record<FaultKind, number>> = {
  "target-kill": 3,
  "target-absent": 1,
  "target-restart": 2,
  "target-drop": 2,
  "target-hang": 1,
  "target-flap": 2,
  "all-down": 1,
  "api-stop": 1,
  "api-hang": 1,
  "api-blackhole": 1,
  "agent-kill": 1.5,
  "agent-term": 1.5,
  "webhook-429": 0.7,
  "webhook-5xx": 0.7,
  "webhook-hang": 0.6,
  "reload": 1,
};

/** A seeded generator of numbers in [0, 1) (mulberry32: small, fast, good enough here). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draws the schedule of `seed` over `durationMs`: episodes are added while the sum of their waits
 * stays within the duration, and at least one is. Recoveries add to that, so the runner, which
 * starts no episode past the duration, may run a prefix of the schedule.
 *
 * @throws {RangeError} if the shape has no Service, no target or no replica.
 */
export function chaosSchedule(seed: number, durationMs: number, shape: ScheduleShape): Schedule {
  const targets = shape.services.flat();
  if (shape.services.length === 0 || targets.length === 0 || shape.replicas < 1) {
    throw new RangeError(
      `Cannot draw a chaos schedule as the bed must have a Service, a target and a replica: current value is ${
        JSON.stringify(shape)
      }`,
    );
  }
  const random = seededRandom(seed);
  const between = (min: number, max: number) => Math.round(min + random() * (max - min));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const kinds = (shape.kinds ?? FAULT_KINDS).filter((kind) => WEIGHTS[kind] > 0);
  const total = kinds.reduce((sum, kind) => sum + WEIGHTS[kind], 0);
  const draw = (): FaultKind => {
    let r = random() * total;
    for (const kind of kinds) {
      r -= WEIGHTS[kind];
      if (r < 0) return kind;
    }
    return kinds.at(-1)!;
  };
  const detect = shape.detectMs;
  const steps: Step[] = [];
  const faults: FaultKind[] = [];
  let planned = 0;
  while (faults.length === 0 || planned < durationMs) {
    const episode = faults.length;
    const fault = draw();
    const out: Step[] = [];
    const step = (afterMs: number, action: Action) => out.push({ afterMs, episode, fault, action });
    const quiet = between(1000, 3000);
    const target = pick(targets);
    switch (fault) {
      case "target-kill":
      case "target-absent":
      case "target-drop": {
        const mode = fault === "target-kill"
          ? "refuse"
          : fault === "target-absent"
          ? "absent"
          : "drop";
        step(quiet, { do: "target", target, mode });
        step(between(detect + 1000, detect + 5000), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        break;
      }
      case "target-restart":
        // Shorter than a verdict needs: nothing may flap.
        step(quiet, { do: "target", target, mode: "refuse" });
        step(between(100, 500), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        break;
      case "target-hang":
        // A plain TCP check connects and closes: a hung peer is alive to it.
        step(quiet, { do: "target", target, mode: "hang" });
        step(between(2000, 6000), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        break;
      case "target-flap": {
        const period = between(150, 900);
        const toggles = Math.max(2, Math.round(between(4000, 10_000) / period));
        step(quiet, { do: "target", target, mode: "refuse" });
        for (let i = 1; i < toggles; i++) {
          step(period, { do: "target", target, mode: i % 2 === 0 ? "refuse" : "accept" });
        }
        step(period, { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "flapping target steady" });
        break;
      }
      case "all-down": {
        const members = pick(shape.services);
        members.forEach((t, i) =>
          step(i === 0 ? quiet : 0, { do: "target", target: t, mode: "refuse" })
        );
        const down = between(detect + 1000, detect + 5000);
        members.forEach((t, i) =>
          step(i === 0 ? down : 0, { do: "target", target: t, mode: "accept" })
        );
        step(0, { do: "recover", what: "service back" });
        break;
      }
      case "api-stop":
      case "api-hang":
      case "api-blackhole": {
        // A target dies during the outage: the agent must publish it once the API answers.
        const [off, on] = fault === "api-stop"
          ? ["stop", "start"] as const
          : fault === "api-hang"
          ? ["hang", "resume"] as const
          : ["cut", "mend"] as const;
        step(quiet, { do: "api", state: off });
        const first = between(300, 1500);
        step(first, { do: "target", target, mode: "refuse" });
        step(Math.max(detect, between(3000, 10_000)) - first, { do: "api", state: on });
        step(0, { do: "recover", what: "api back" });
        step(between(300, 2000), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        break;
      }
      case "agent-kill":
      case "agent-term": {
        const replica = between(0, shape.replicas - 1);
        const signal = fault === "agent-kill" ? "SIGKILL" : "SIGTERM";
        step(quiet, { do: "agent-signal", replica, signal });
        const first = between(200, 1500);
        step(first, { do: "target", target, mode: "refuse" });
        step(Math.max(0, between(2000, 6000) - first), { do: "agent-start", replica });
        step(0, { do: "recover", what: "agent back" });
        step(between(300, 2000), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        break;
      }
      case "webhook-429":
      case "webhook-5xx":
      case "webhook-hang": {
        // A transition while the webhook fails: alerts must never hold up publishing.
        const answer = fault === "webhook-429" ? "429" : fault === "webhook-5xx" ? "5xx" : "hang";
        step(quiet, { do: "webhook", answer });
        step(200, { do: "target", target, mode: "refuse" });
        step(between(detect + 1000, detect + 4000), { do: "target", target, mode: "accept" });
        step(0, { do: "recover", what: "target back" });
        step(between(500, 3000), { do: "webhook", answer: "ok" });
        step(0, { do: "recover", what: "webhook back" });
        break;
      }
      case "reload": {
        // The same file again, or a doubled interval (then the old one back at the end); the
        // file changes on disk for every replica, the SIGHUP goes to one.
        const replica = between(0, shape.replicas - 1);
        const changed = random() < 0.5;
        const intervalMs = changed ? shape.intervalMs * 2 : shape.intervalMs;
        step(quiet, { do: "reload", replica, intervalMs });
        step(between(500, 2000), { do: "target", target, mode: "refuse" });
        step(between(detect * 2 + 1000, detect * 2 + 3000), {
          do: "target",
          target,
          mode: "accept",
        });
        step(0, { do: "recover", what: "target back" });
        if (changed) {
          step(between(300, 1000), { do: "reload", replica, intervalMs: shape.intervalMs });
          step(0, { do: "recover", what: "reloaded" });
        }
        break;
      }
    }
    const length = out.reduce((sum, s) => sum + s.afterMs, 0);
    if (faults.length > 0 && planned + length > durationMs) break;
    steps.push(...out);
    faults.push(fault);
    planned += length;
  }
  return { seed, durationMs, steps, episodes: faults.length, faults, plannedMs: planned };
}
