/**
 * The soak's faults, in a fixed rotation (pure): which fault comes at round `n` and which
 * targets it touches, so that two soaks of the same length inject the same faults.
 *
 * @module
 */

import type { TargetMode } from "../tests/support/targets.ts";

/** The kinds of fault of a soak, in their order of rotation. */
export const SOAK_FAULTS = ["refuse", "drop", "flap", "api-stop", "all-down", "hang"] as const;

/** A kind of soak fault. */
export type SoakFault = typeof SOAK_FAULTS[number];

/** One fault: its kind, targets as `[service, index]`, mode and duration. */
export interface SoakFaultPlan {
  readonly kind: SoakFault;
  readonly targets: readonly (readonly [number, number])[];
  /** The mode the targets are switched to (refuse, drop, hang). */
  readonly mode: TargetMode;
  readonly durationMs: number;
}

/**
 * The fault of round `round` on a bed of `services` Services of 100 targets: the kind in
 * rotation, on the Service `round % services`, starting at a target that moves every round.
 */
export function soakFault(round: number, services: number): SoakFaultPlan {
  const kind = SOAK_FAULTS[round % SOAK_FAULTS.length]!;
  const service = round % Math.max(1, services);
  const first = (round * 7) % 90;
  const range = (n: number) => Array.from({ length: n }, (_, i) => [service, first + i] as const);
  switch (kind) {
    case "refuse":
      return { kind, targets: range(10), mode: "refuse", durationMs: 10_000 };
    case "drop":
      return { kind, targets: range(5), mode: "drop", durationMs: 10_000 };
    case "flap":
      return { kind, targets: range(1), mode: "refuse", durationMs: 10_000 };
    case "api-stop":
      return { kind, targets: [], mode: "accept", durationMs: 5000 };
    case "all-down":
      return {
        kind,
        targets: Array.from({ length: 100 }, (_, i) => [service, i] as const),
        mode: "refuse",
        durationMs: 10_000,
      };
    case "hang":
      return { kind, targets: range(10), mode: "hang", durationMs: 10_000 };
  }
}
