/**
 * `deno task chaos [--seed N] [--minutes M] [--skip KINDS] [--reload|--no-reload]`: the
 * chaos run of tests/chaos/chaos.ts, inside the test network (`tests/netns.sh
 * tests/chaos/run.ts`). Prints the seed first (a run is repeated by passing it again), progress
 * on stderr, then the report's tables; exits 1 when an invariant was violated.
 *
 * Reload faults are on when main.ts handles SIGHUP (the agent reloads its configuration then),
 * unless `--no-reload`. `--sabotage fall|allDown` misconfigures the agents behind the checker's
 * back (fall 40; alpha `allDown: empty`) to see the checks fail. `--skip kind,kind` skips the
 * episodes of those kinds (the schedule stays the seed's), e.g. to leave out a known bug.
 * `--replicas 1` runs one agent without Leases instead of two with (another schedule).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { agentReloads, runChaos } from "./chaos.ts";
import { chaosTable } from "./report.ts";
import { FAULT_KINDS, type FaultKind } from "./schedule.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string" },
    minutes: { type: "string", default: "10" },
    reload: { type: "boolean" },
    "no-reload": { type: "boolean" },
    echo: { type: "boolean" },
    sabotage: { type: "string" },
    skip: { type: "string", default: "" },
    replicas: { type: "string", default: "2" },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const minutes = Number(values.minutes);
if (
  !Number.isInteger(seed) || seed < 0 || !(minutes > 0) ||
  ![undefined, "fall", "allDown"].includes(values.sabotage) ||
  !["1", "2", "3"].includes(values.replicas)
) {
  console.error(
    `Cannot run chaos as '--seed' must be a non-negative integer, '--minutes' positive, '--sabotage' 'fall' or 'allDown' and '--replicas' 1 to 3: current values are '${values.seed}', '${values.minutes}', '${values.sabotage}' and '${values.replicas}'`,
  );
  Deno.exit(2);
}
const skip = values.skip.split(",").filter((kind) => kind !== "") as FaultKind[];
const unknown = skip.filter((kind) => !FAULT_KINDS.includes(kind));
if (unknown.length > 0) {
  console.error(
    `Cannot run chaos as '--skip' must list fault kinds (${
      FAULT_KINDS.join(", ")
    }): current value is '${values.skip}'`,
  );
  Deno.exit(2);
}
const reload = values["no-reload"] ? false : values.reload ?? await agentReloads();
console.log(
  `chaos seed ${seed} (repeat with --seed ${seed}), ${minutes} min, reload ${
    reload ? "on" : "off"
  }`,
);
const report = await runChaos({
  seed,
  minutes,
  reload,
  echo: values.echo,
  sabotage: values.sabotage as "fall" | "allDown" | undefined,
  skip,
  replicas: Number(values.replicas),
  log: (line) => console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`),
});
console.log(chaosTable(report).join("\n"));
Deno.exit(report.violations.length === 0 ? 0 : 1);
