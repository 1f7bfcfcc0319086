/**
 * The command line: what each subcommand accepts, what it refuses (exit 2 naming the flag), and
 * the `--listen` address syntax. `main` is run in-process for the texts a user reads.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_LISTEN,
  EXIT,
  HELP,
  type Invocation,
  parseCommandLine,
  parseListen,
} from "../src/cli.ts";
import { main, VERSION } from "../main.ts";

function parsed(args: string[]): Exclude<Invocation, { command: "error" }> {
  const invocation = parseCommandLine(args);
  assert.notEqual(invocation.command, "error", JSON.stringify(invocation));
  return invocation as Exclude<Invocation, { command: "error" }>;
}

function usageError(args: string[]): { message: string; help: string } {
  const invocation = parseCommandLine(args);
  assert.equal(invocation.command, "error", `expected a usage error for ${args.join(" ")}`);
  return invocation as { message: string; help: string };
}

/** Runs `main` with console output captured. */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    const code = await main(args);
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("cli: no command is run, with the documented defaults", () => {
  const invocation = parsed([]);
  assert.equal(invocation.command, "run");
  assert.equal(invocation.help, false);
  assert.deepEqual(invocation.flags, {
    config: undefined,
    kubeconfig: undefined,
    context: undefined,
    dryRun: false,
    once: false,
    logLevel: undefined,
    logFormat: undefined,
    listen: DEFAULT_LISTEN,
  });
});

Deno.test("cli: run's flags are parsed, in both spellings", () => {
  const invocation = parsed([
    "run",
    "-c",
    "c.env",
    "--kubeconfig=k",
    "--context",
    "ctx",
    "--dry-run",
    "--once",
    "--log-level",
    "debug",
    "--log-format",
    "text",
    "--listen",
    "[::1]:9000",
  ]);
  assert.equal(invocation.command, "run");
  assert.deepEqual(invocation.flags, {
    config: "c.env",
    kubeconfig: "k",
    context: "ctx",
    dryRun: true,
    once: true,
    logLevel: "debug",
    logFormat: "text",
    listen: "[::1]:9000",
  });
});

Deno.test("cli: flags without a command mean run", () => {
  const invocation = parsed(["--config", "/etc/helaseid/config.env", "--listen", "off"]);
  assert.equal(invocation.command, "run");
  assert.equal(invocation.flags.config, "/etc/helaseid/config.env");
  assert.equal(invocation.flags.listen, "off");
});

Deno.test("cli: check and validate take the configuration flags", () => {
  for (const command of ["check", "validate"] as const) {
    const invocation = parsed([command, "--config", "x.yaml", "--log-format", "json"]);
    assert.equal(invocation.command, command);
    assert.equal(invocation.flags.config, "x.yaml");
    assert.equal(invocation.flags.logFormat, "json");
  }
});

Deno.test("cli: help COMMAND is COMMAND --help; --help alone is the program's help", () => {
  for (const command of ["run", "check", "validate", "version"] as const) {
    const viaHelp = parsed(["help", command]);
    assert.equal(viaHelp.command, command);
    assert.equal(viaHelp.help, true);
    const viaFlag = parsed([command, "--help"]);
    assert.equal(viaFlag.command, command);
    assert.equal(viaFlag.help, true);
  }
  assert.equal(parsed(["--help"]).command, "help");
  assert.equal(parsed(["-h"]).command, "help");
  assert.equal(parsed(["help"]).command, "help");
});

Deno.test("cli: -V and --version mean version", () => {
  assert.equal(parsed(["-V"]).command, "version");
  assert.equal(parsed(["--version"]).command, "version");
  assert.equal(parsed(["version"]).command, "version");
});

Deno.test("cli: a flag of another command is an error naming the flag and its command", () => {
  const cases: [string[], RegExp][] = [
    [["check", "--listen", ":9"], /^Cannot use '--listen' with 'check': it is a flag of 'run'$/],
    [["validate", "--dry-run"], /^Cannot use '--dry-run' with 'validate': it is a flag of 'run'$/],
    [["check", "--once"], /^Cannot use '--once' with 'check': it is a flag of 'run'$/],
    [["validate", "--kubeconfig", "k"], /'--kubeconfig' with 'validate'.*'run'$/],
    [["version", "--config", "c"], /'--config' with 'version'.*'run', 'check', 'validate'$/],
    [["version", "-c", "c"], /^Cannot use '-c' with 'version'/],
  ];
  for (const [args, message] of cases) {
    const error = usageError(args);
    assert.match(error.message, message, args.join(" "));
    assert.equal(error.help, `Run 'helaseid ${args[0]} --help' for usage`);
  }
});

Deno.test("cli: unknown commands, flags, arguments and values are usage errors", () => {
  assert.match(usageError(["start"]).message, /^Unknown command 'start': use one of run, /);
  assert.equal(usageError(["start"]).help, "Run 'helaseid --help' for usage");
  assert.match(usageError(["help", "start"]).message, /^Unknown command 'start'/);
  assert.match(usageError(["help", "run", "check"]).message, /^Unexpected argument 'check'$/);
  assert.match(usageError(["run", "extra"]).message, /^Unexpected argument 'extra'$/);
  assert.match(usageError(["run", "--frobnicate"]).message, /^Unknown option '--frobnicate'$/);
  assert.match(usageError(["run", "--dry-run-fallback"]).message, /'--dry-run-fallback'/);
  assert.match(
    usageError(["run", "--log-level", "loud"]).message,
    /^Cannot use --log-level 'loud': use debug, info, warn or error$/,
  );
  assert.match(
    usageError(["run", "--log-format", "xml"]).message,
    /^Cannot use --log-format 'xml': use json or text$/,
  );
  assert.match(
    usageError(["run", "--listen", "8080"]).message,
    /^Cannot use --listen '8080': use HOST:PORT, :PORT or off$/,
  );
  assert.match(usageError(["run", "--config"]).message, /--config/);
});

Deno.test("parseListen: host and port, IPv6 in brackets, all interfaces by default", () => {
  assert.deepEqual(parseListen(":8080"), { hostname: "0.0.0.0", port: 8080 });
  assert.deepEqual(parseListen("127.0.0.1:9"), { hostname: "127.0.0.1", port: 9 });
  assert.deepEqual(parseListen("[::1]:8080"), { hostname: "::1", port: 8080 });
  assert.deepEqual(parseListen("[::]:0"), { hostname: "::", port: 0 });
  assert.deepEqual(parseListen("localhost:65535"), { hostname: "localhost", port: 65535 });
});

Deno.test("parseListen: refuses what cannot be listened on", () => {
  for (
    const value of [
      "",
      "8080",
      ":",
      ":65536",
      ":123456",
      "::1:8080",
      "[::1]",
      "a b:80",
      ":-1",
      "[zz]:80",
      "off",
    ]
  ) {
    assert.equal(parseListen(value), undefined, `'${value}'`);
  }
});

Deno.test("main: help run prints run's help; -V prints the version", async () => {
  const help = await runMain(["help", "run"]);
  assert.equal(help.code, EXIT.ok);
  assert.equal(help.stdout, HELP.run);
  assert.match(help.stdout, /^Usage: helaseid run /);
  assert.match(help.stdout, /--dry-run /);
  const version = await runMain(["-V"]);
  assert.equal(version.code, EXIT.ok);
  assert.match(version.stdout, new RegExp(`^helaseid ${VERSION.replaceAll(".", "\\.")} \\(deno `));
});

Deno.test("main: a flag of another command exits 2 and says which", async () => {
  const result = await runMain(["check", "--listen", ":9"]);
  assert.equal(result.code, EXIT.usage);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    "helaseid: Cannot use '--listen' with 'check': it is a flag of 'run'\n" +
      "Run 'helaseid check --help' for usage",
  );
});

Deno.test("cli: every flag in a command's help is one it accepts", () => {
  for (const command of ["run", "check", "validate"] as const) {
    const flags = [...HELP[command].matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
    assert.ok(flags.length >= 4, `${command}: help lists ${flags}`);
    for (const flag of flags) {
      const args = flag === "--help" ? [command, flag] : [
        command,
        flag,
        ...(
          ["--dry-run", "--once"].includes(flag) ? [] : [
            flag === "--listen"
              ? ":1"
              : flag === "--log-level"
              ? "info"
              : flag === "--log-format"
              ? "json"
              : "x",
          ]
        ),
      ];
      assert.notEqual(parseCommandLine(args).command, "error", `${command} ${flag}`);
    }
  }
});

Deno.test("cli: --log-level takes the original HELASEID's levels too, as LOG_LEVEL does", () => {
  assert.equal(parsed(["run", "--log-level", "CRITICAL"]).flags.logLevel, "error");
  assert.equal(parsed(["run", "--log-level", "fatal"]).flags.logLevel, "error");
  assert.equal(parsed(["run", "--log-level", "Warning"]).flags.logLevel, "warn");
  assert.equal(parsed(["run", "--log-level", "WARN"]).flags.logLevel, "warn");
});
