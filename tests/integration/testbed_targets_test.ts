/**
 * The test bed's network and simulated targets, seen as a prober sees them: through
 * `Deno.connect`. Runs inside the private network namespace of tests/run.sh.
 *
 * Timeouts here only bound "must not connect" windows or keep a broken test from hanging;
 * nothing asserts that something happens within a time.
 */

import assert from "node:assert/strict";
import { type SimulatedTarget, startTarget, startTargets } from "../support/targets.ts";
import { NFT_TABLE, TestNetwork, TestNetworkError } from "../support/testnet.ts";
import { delay, until } from "../support/wait.ts";

/** How long a dropped or hung connection must stay silent. */
const SILENT_WINDOW_MS = 300;
/** Upper bound for things that must happen, only so that a broken test fails instead of hanging. */
const GENEROUS_MS = 10_000;

async function command(program: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  assert.ok(output.success, `${program} ${args.join(" ")}: ${decoder.decode(output.stderr)}`);
  return decoder.decode(output.stdout);
}

function loAddresses(): Promise<string> {
  return command("ip", "-br", "addr", "show", "dev", "lo");
}

function ruleset(): Promise<string> {
  return command("nft", "list", "ruleset");
}

/** Asserts that nothing a test added to the namespace is left. */
async function assertClean(): Promise<void> {
  const addresses = await loAddresses();
  assert.doesNotMatch(addresses, /192\.0\.2\.|2001:db8:/, `addresses left on lo: ${addresses}`);
  const rules = await ruleset();
  assert.ok(!rules.includes(NFT_TABLE), `nftables rules left: ${rules}`);
}

/** Connects to the target, or returns the error; aborted after `limitMs`. */
async function connect(
  target: SimulatedTarget,
  limitMs = GENEROUS_MS,
): Promise<Deno.TcpConn | Error> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException("connect timed out", "TimeoutError")),
    limitMs,
  );
  try {
    return await Deno.connect({
      hostname: target.address,
      port: target.port,
      signal: controller.signal,
    });
  } catch (error) {
    return error as Error;
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that the target accepts and then closes the connection (EOF). */
async function assertAccepts(target: SimulatedTarget): Promise<void> {
  const before = target.acceptedCount;
  const conn = await connect(target);
  assert.ok(
    !(conn instanceof Error),
    `connect to ${target.address}:${target.port} failed: ${conn}`,
  );
  try {
    assert.equal(await conn.read(new Uint8Array(16)), null, "the target closes at once");
  } finally {
    conn.close();
  }
  await until("the target to count the connection", () => target.acceptedCount > before, {
    timeoutMs: GENEROUS_MS,
  });
}

async function assertRefused(target: SimulatedTarget): Promise<void> {
  const result = await connect(target);
  if (!(result instanceof Error)) result.close();
  assert.ok(
    result instanceof Deno.errors.ConnectionRefused,
    `expected ConnectionRefused, got ${result}`,
  );
}

/** Asserts that the SYN goes unanswered: neither connected nor refused within the window. */
async function assertDropped(target: SimulatedTarget): Promise<void> {
  let result: Deno.TcpConn | Error;
  try {
    result = await Deno.connect({
      hostname: target.address,
      port: target.port,
      signal: AbortSignal.timeout(SILENT_WINDOW_MS),
    });
  } catch (error) {
    result = error as Error;
  }
  if (!(result instanceof Error)) result.close();
  assert.ok(
    result instanceof DOMException && result.name === "TimeoutError",
    `expected no answer, got ${result}`,
  );
}

async function assertUnreachable(target: SimulatedTarget): Promise<void> {
  const result = await connect(target);
  if (!(result instanceof Error)) result.close();
  assert.ok(
    result instanceof Deno.errors.NetworkUnreachable,
    `expected NetworkUnreachable, got ${result}`,
  );
}

/** A connection to a hanging target, with the read that is still waiting for it. */
type HungConn = Deno.TcpConn & { readonly pendingRead: Promise<string> };

/**
 * Asserts that the target accepts and then stays silent: no data, no EOF, no reset. The read
 * stays pending; the caller awaits `pendingRead` after closing the connection (or the target),
 * so that no op leaks.
 */
async function assertHangs(target: SimulatedTarget): Promise<HungConn> {
  const before = target.acceptedCount;
  const conn = await connect(target);
  assert.ok(!(conn instanceof Error), `connect failed: ${conn}`);
  await until("the target to accept", () => target.acceptedCount > before, {
    timeoutMs: GENEROUS_MS,
  });
  const read = conn.read(new Uint8Array(16)).then((n) => `read ${n}`, (e) => `error ${e}`);
  const outcome = await Promise.race([read, delay(SILENT_WINDOW_MS).then(() => "silent")]);
  assert.equal(outcome, "silent", "the target must neither write nor close");
  return Object.assign(conn, { pendingRead: read });
}

Deno.test("TestNetwork.open refuses unless HELASEID_TESTNET=1", async () => {
  const saved = Deno.env.get("HELASEID_TESTNET");
  try {
    Deno.env.delete("HELASEID_TESTNET");
    await assert.rejects(TestNetwork.open(), (error: Error) => {
      assert.ok(error instanceof TestNetworkError);
      assert.match(error.message, /'HELASEID_TESTNET' must be '1': current value is unset/);
      return true;
    });
    Deno.env.set("HELASEID_TESTNET", "yes");
    await assert.rejects(TestNetwork.open(), /current value is 'yes'/);
  } finally {
    if (saved === undefined) Deno.env.delete("HELASEID_TESTNET");
    else Deno.env.set("HELASEID_TESTNET", saved);
  }
});

Deno.test("TestNetwork.open refuses with an interface other than lo", async () => {
  // Only after open() proved this is the private namespace may the test add an interface.
  await (await TestNetwork.open()).close();
  await command("ip", "link", "add", "hsd_test0", "type", "veth", "peer", "name", "hsd_test1");
  try {
    await assert.rejects(TestNetwork.open(), (error: Error) => {
      assert.ok(error instanceof TestNetworkError);
      assert.match(error.message, /interfaces other than 'lo': .*'hsd_test0'/);
      return true;
    });
  } finally {
    await command("ip", "link", "del", "hsd_test0");
  }
});

Deno.test("TestNetwork accepts only TEST-NET addresses and cleans up", async () => {
  {
    await using net = await TestNetwork.open();
    for (const ip of ["127.0.0.2", "10.0.0.1", "192.0.3.1", "192.0.2.256", "192.0.2.1/24"]) {
      await assert.rejects(net.addAddress(ip), TestNetworkError, ip);
    }
    for (const ip of ["::1", "2001:db9::1", "2001:db80::1", "fe80::1%lo", "192.0.2.01"]) {
      await assert.rejects(net.addAddress(ip), TestNetworkError, ip);
    }
    await assert.rejects(net.drop("192.0.2.1", 0), /'port' must be an integer/);

    await net.addAddress("192.0.2.1");
    await net.addAddress("192.0.2.1"); // idempotent
    await net.addAddress("2001:0DB8:0::0:5");
    assert.ok(net.hasAddress("2001:db8::5"));
    assert.match(await loAddresses(), /192\.0\.2\.1\/32.*2001:db8::5\/128/);
    await net.drop("192.0.2.1", 80);
    await net.drop("2001:db8::5", 80);
    await net.drop("2001:db8::5", 80); // idempotent
    const rules = await command("nft", "list", "table", "inet", NFT_TABLE);
    assert.equal(rules.match(/ drop/g)?.length, 2, rules);
    await net.undrop("192.0.2.1", 80);
    await net.undrop("192.0.2.1", 80); // idempotent
    await net.removeAddress("192.0.2.1");
    await net.removeAddress("192.0.2.1"); // idempotent
    assert.ok(!net.hasAddress("192.0.2.1"));
  }
  await assertClean();
});

Deno.test("TestNetwork.close is idempotent and refuses changes after", async () => {
  const net = await TestNetwork.open();
  await net.addAddress("192.0.2.2");
  await net.drop("192.0.2.2", 443);
  await Promise.all([net.close(), net.close()]);
  await net.close();
  await assert.rejects(net.addAddress("192.0.2.2"), /test network is closed/);
  await assertClean();
});

Deno.test("target in accept mode accepts and closes each connection", async () => {
  {
    await using net = await TestNetwork.open();
    await using target = await startTarget(net, { address: "192.0.2.10", port: 8080 });
    assert.equal(target.mode, "accept");
    await assertAccepts(target);
    await assertAccepts(target);
    assert.equal(target.acceptedCount, 2);
  }
  await assertClean();
});

Deno.test("target in refuse mode refuses connections", async () => {
  {
    await using net = await TestNetwork.open();
    await using target = await startTarget(net, {
      address: "192.0.2.11",
      port: 8080,
      mode: "refuse",
    });
    await assertRefused(target);
    await target.setMode("accept");
    await assertAccepts(target);
    await target.setMode("refuse");
    await target.setMode("refuse"); // idempotent
    await assertRefused(target);
    assert.equal(target.acceptedCount, 1);
  }
  await assertClean();
});

Deno.test("target in drop mode never answers, then accepts again", async () => {
  {
    await using net = await TestNetwork.open();
    await using target = await startTarget(net, { address: "192.0.2.12", port: 9092 });
    await target.setMode("drop");
    assert.match(await ruleset(), /192\.0\.2\.12 tcp dport 9092/);
    await assertDropped(target);
    assert.equal(target.acceptedCount, 0);
    await target.setMode("accept");
    assert.doesNotMatch(await ruleset(), /192\.0\.2\.12/);
    await assertAccepts(target);
  }
  await assertClean();
});

Deno.test("target in hang mode accepts and then stays silent", async () => {
  {
    await using net = await TestNetwork.open();
    await using target = await startTarget(net, {
      address: "192.0.2.13",
      port: 5432,
      mode: "hang",
    });
    const first = await assertHangs(target);
    const second = await assertHangs(target);
    try {
      // Leaving hang mode lets the held connections go: the client's read ends.
      await target.setMode("accept");
      assert.match(await first.pendingRead, /^read null$|^error /);
      await assertAccepts(target);
    } finally {
      first.close();
      second.close();
      await second.pendingRead;
    }
  }
  await assertClean();
});

Deno.test("target closed while hanging releases its connections", async () => {
  {
    await using net = await TestNetwork.open();
    const target = await startTarget(net, { address: "192.0.2.14", port: 5432, mode: "hang" });
    const conn = await assertHangs(target);
    try {
      await target.close();
      assert.match(await conn.pendingRead, /^read null$|^error /);
    } finally {
      conn.close();
    }
  }
  await assertClean();
});

Deno.test("absent mode removes the address for every port on it, until it comes back", async () => {
  {
    await using net = await TestNetwork.open();
    const [a, b] = await startTargets(net, [
      { address: "192.0.2.20", port: 80 },
      { address: "192.0.2.20", port: 443, mode: "refuse" },
    ]);
    assert.ok(a && b);
    await using _a = a;
    await using _b = b;
    await a.setMode("absent");
    assert.doesNotMatch(await loAddresses(), /192\.0\.2\.20/);
    await assertUnreachable(a);
    await assertUnreachable(b);
    await b.setMode("accept"); // still absent: a is
    await assertUnreachable(b);
    await a.setMode("hang");
    assert.match(await loAddresses(), /192\.0\.2\.20\/32/);
    await assertAccepts(b);
    const conn = await assertHangs(a);
    conn.close();
    await conn.pendingRead;
    await a.setMode("refuse");
    await assertRefused(a);
  }
  await assertClean();
});

Deno.test("IPv6 targets work in every mode", async () => {
  {
    await using net = await TestNetwork.open();
    await using target = await startTarget(net, { address: "2001:db8::10", port: 8443 });
    assert.equal(target.address, "2001:db8::10");
    await assertAccepts(target);
    await target.setMode("drop");
    assert.match(await ruleset(), /ip6 daddr 2001:db8::10 tcp dport 8443/);
    await assertDropped(target);
    await target.setMode("refuse");
    await assertRefused(target);
    await target.setMode("absent");
    await assertUnreachable(target);
    await target.setMode("hang");
    const conn = await assertHangs(target);
    conn.close();
    await conn.pendingRead;
    await target.setMode("accept");
    await assertAccepts(target);
  }
  await assertClean();
});

Deno.test("targets share addresses: closing one leaves the others working", async () => {
  {
    await using net = await TestNetwork.open();
    await net.addAddress("192.0.2.31"); // the test's own: must survive the targets
    const [a, b, c] = await startTargets(net, [
      { address: "192.0.2.30", port: 1000 },
      { address: "192.0.2.30", port: 1001 },
      { address: "192.0.2.31", port: 0, mode: "refuse" },
    ]);
    assert.ok(a && b && c);
    assert.ok(c.port > 0, "port 0 picks a port");
    await assert.rejects(
      startTarget(net, { address: "192.0.2.30", port: 1000 }),
      /another target uses it/,
    );
    await a.close();
    await a.close(); // idempotent
    await assert.rejects(a.setMode("accept"), /the target is closed/);
    await assertAccepts(b);
    await b.close();
    assert.doesNotMatch(await loAddresses(), /192\.0\.2\.30/);
    await c.setMode("absent");
    await c.close();
    assert.match(await loAddresses(), /192\.0\.2\.31/, "the test's own address is restored");
  }
  await assertClean();
});

Deno.test("concurrent mode switches apply in call order", async () => {
  {
    await using net = await TestNetwork.open();
    const targets = await startTargets(net, [
      { address: "192.0.2.40", port: 7000 },
      { address: "192.0.2.40", port: 7001 },
    ]);
    const [a, b] = targets;
    assert.ok(a && b);
    const sequence = ["drop", "hang", "absent", "refuse", "drop", "absent", "accept"] as const;
    await Promise.all(
      sequence.flatMap((mode) => [a.setMode(mode), b.setMode(mode === "accept" ? "drop" : mode)]),
    );
    assert.equal(a.mode, "accept");
    assert.equal(b.mode, "drop");
    await assertAccepts(a);
    await assertDropped(b);
    await Promise.all([a.close(), b.close(), a.close()]);
  }
  await assertClean();
});

Deno.test("a thousand targets on four addresses start and stop cleanly", async () => {
  {
    await using net = await TestNetwork.open();
    const specs = Array.from({ length: 1000 }, (_, i) => ({
      address: i % 2 === 0 ? `192.0.2.${50 + (i % 4)}` : `2001:db8::${50 + (i % 4)}`,
      port: 20000 + i,
    }));
    const targets = await startTargets(net, specs);
    try {
      assert.equal(targets.length, 1000);
      for (const target of targets.filter((_, i) => i % 97 === 0)) await assertAccepts(target);
      const dropped = targets.filter((_, i) => i % 250 === 1);
      await Promise.all(dropped.map((target) => target.setMode("drop")));
      await Promise.all(dropped.map(assertDropped));
    } finally {
      await Promise.all(targets.map((target) => target.close()));
    }
  }
  await assertClean();
});
