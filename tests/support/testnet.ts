/**
 * The test network: TEST-NET addresses on `lo` and nftables rules that silently drop TCP SYNs,
 * inside the private network namespace the integration test runner creates (DESIGN.md §4).
 *
 * {@linkcode TestNetwork.open} refuses to run unless `HELASEID_TESTNET=1` and the namespace has
 * no interface but `lo`, so nothing here can ever touch the host's real network. Only
 * 192.0.2.0/24 (TEST-NET-1) and 2001:db8::/32 (IPv6 documentation) addresses are accepted.
 *
 * ```ts
 * await using net = await TestNetwork.open();
 * await net.addAddress("192.0.2.10");
 * await net.drop("192.0.2.10", 9092); // connects to 192.0.2.10:9092 now time out
 * ```
 *
 * @module
 */

/** Name of the nftables table (family `inet`) that holds every drop rule. */
export const NFT_TABLE = "helaseid_test";

const NFT_FAMILY = "inet";
const TCP_SYN_ONLY = ["tcp", "flags", "&", "(syn|ack)", "==", "syn"];
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

/** Why the test network refused to open or failed to change. */
export class TestNetworkError extends Error {
  /** Creates the error; `options.cause` is the wrapped error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TestNetworkError";
  }
}

/** A command (`ip`, `nft`) that exited with an error; the message quotes its stderr. */
export class TestNetworkCommandError extends TestNetworkError {
  /** The command line, program first. */
  readonly command: readonly string[];
  /** The exit code. */
  readonly code: number;
  /** What the command wrote to stderr, trimmed. */
  readonly stderr: string;

  /** Creates the error for `command`, which exited with `code` and wrote `stderr`. */
  constructor(command: readonly string[], code: number, stderr: string) {
    super(`Command '${command.join(" ")}' failed with exit code ${code}: ${stderr || "no stderr"}`);
    this.name = "TestNetworkCommandError";
    this.command = command;
    this.code = code;
    this.stderr = stderr;
  }
}

/** A TEST-NET address in canonical form. */
export interface TestAddress {
  /** The address, canonical: IPv6 lower case and compressed (`2001:db8::a`). */
  readonly address: string;
  /** 4 for 192.0.2.0/24, 6 for 2001:db8::/32. */
  readonly family: 4 | 6;
}

/**
 * Parses a TEST-NET address (192.0.2.0/24 or 2001:db8::/32) into canonical form, so the same
 * address spelled two ways is one address.
 *
 * @throws {TestNetworkError} if `ip` is not an IP address in those ranges.
 */
export function parseTestAddress(ip: string): TestAddress {
  if (IPV4.test(ip)) {
    if (ip.startsWith("192.0.2.")) return { address: ip, family: 4 };
  } else if (ip.includes(":") && IPV6_CHARS.test(ip)) {
    // The WHATWG URL parser validates and serializes IPv6 in RFC 5952 form.
    let canonical: string | undefined;
    try {
      canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    } catch {
      // Not an IPv6 address: reported below.
    }
    if (canonical !== undefined && canonical.startsWith("2001:db8:")) {
      return { address: canonical, family: 6 };
    }
  }
  throw new TestNetworkError(
    `Cannot use '${ip}' as a test address: only 192.0.2.0/24 and 2001:db8::/32 are allowed`,
  );
}

function validatePort(ip: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TestNetworkError(
      `Cannot drop SYNs to '${ip}:${port}' as 'port' must be an integer from 1 to 65535: current value is ${port}`,
    );
  }
}

/** Runs `program args...` and returns its stdout; throws with its stderr if it failed. */
/** Waits (bounded) until the kernel routes `address` locally; throws if it never does. */
async function untilLocalRoute(address: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!(await run("ip", ["-6", "route", "show", "table", "local", address])).trim()) {
    if (performance.now() > deadline) {
      throw new TestNetworkError(`No local route for '${address}' within 5 s of adding it`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function run(program: string, args: readonly string[]): Promise<string> {
  const command = [program, ...args];
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new TestNetworkError(`Cannot run '${command.join(" ")}': ${String(error)}`, {
      cause: error,
    });
  }
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new TestNetworkCommandError(command, output.code, decoder.decode(output.stderr).trim());
  }
  return decoder.decode(output.stdout);
}

interface IpLink {
  readonly ifname: string;
  readonly flags?: readonly string[];
}

/**
 * Addresses on `lo` and nftables drop rules for one test run, all removed by
 * {@linkcode TestNetwork.close}. Changes are applied one at a time, in call order.
 */
export class TestNetwork implements AsyncDisposable {
  /** Addresses this instance added, canonical. */
  readonly #addresses = new Set<string>();
  /** Drop rules this instance added: `address port` to the nftables rule handle. */
  readonly #rules = new Map<string, number>();
  /** This instance's own chain, so that instances never remove each other's rules. */
  readonly #chain = `input_${crypto.randomUUID().slice(0, 8)}`;
  #chainCreated = false;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor() {}

  /**
   * Opens the test network after checking that this process runs where it may change the
   * network: `HELASEID_TESTNET=1` and no interface but an up `lo`.
   *
   * @throws {TestNetworkError} outside such a private network namespace.
   */
  static async open(): Promise<TestNetwork> {
    const flag = Deno.env.get("HELASEID_TESTNET");
    if (flag !== "1") {
      throw new TestNetworkError(
        `Cannot open the test network as 'HELASEID_TESTNET' must be '1': current value is ${
          flag === undefined ? "unset" : `'${flag}'`
        } (run the integration tests with deno task test)`,
      );
    }
    const links = JSON.parse(await run("ip", ["-j", "link", "show"])) as IpLink[];
    const others = links.map((link) => link.ifname).filter((name) => name !== "lo");
    if (others.length > 0) {
      throw new TestNetworkError(
        `Cannot open the test network as this network namespace has interfaces other than 'lo': ${
          others.map((name) => `'${name}'`).join(", ")
        } (run the integration tests with deno task test)`,
      );
    }
    const lo = links.find((link) => link.ifname === "lo");
    if (!lo?.flags?.includes("UP")) {
      throw new TestNetworkError(
        "Cannot open the test network as 'lo' is down: run 'ip link set lo up' first",
      );
    }
    return new TestNetwork();
  }

  /** Whether {@linkcode TestNetwork.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether this instance added `ip` (any spelling) and has not removed it. */
  hasAddress(ip: string): boolean {
    return this.#addresses.has(parseTestAddress(ip).address);
  }

  /**
   * Adds `ip` to `lo` as a /32 or /128; a no-op if this instance already added it.
   *
   * @throws {TestNetworkError} if `ip` is not a TEST-NET address or `ip addr add` fails.
   */
  async addAddress(ip: string): Promise<void> {
    const { address, family } = parseTestAddress(ip);
    return await this.#serially(`add address '${ip}'`, async () => {
      if (this.#addresses.has(address)) return;
      const args = ["addr", "add", `${address}/${family === 4 ? 32 : 128}`, "dev", "lo"];
      // Loopback does no duplicate address detection, but never let an address be tentative.
      await run("ip", family === 6 ? [...args, "nodad"] : args);
      this.#addresses.add(address);
      // The kernel inserts an IPv6 address's local route from a work queue, after `ip addr add`
      // has returned: on a busy machine a connect in between fails with "Network is
      // unreachable". Wait until the route is there (it takes microseconds when idle).
      if (family === 6) await untilLocalRoute(address);
    });
  }

  /**
   * Removes `ip` from `lo`; a no-op if it is not there.
   *
   * @throws {TestNetworkError} if `ip` is not a TEST-NET address or `ip addr del` fails.
   */
  async removeAddress(ip: string): Promise<void> {
    const { address } = parseTestAddress(ip);
    return await this.#serially(`remove address '${ip}'`, () => this.#removeAddress(address));
  }

  /**
   * Silently drops TCP SYNs to `ip:port` (IPv4 or IPv6), so connecting there times out while
   * established connections keep working; a no-op if already dropped.
   *
   * @throws {TestNetworkError} if `ip` or `port` is invalid or `nft` fails.
   */
  async drop(ip: string, port: number): Promise<void> {
    const { address, family } = parseTestAddress(ip);
    validatePort(ip, port);
    const key = `${address} ${port}`;
    return await this.#serially(`drop SYNs to '${ip}:${port}'`, async () => {
      if (this.#rules.has(key)) return;
      await this.#ensureChain();
      const match = [family === 4 ? "ip" : "ip6", "daddr", address, "tcp", "dport", `${port}`];
      const echo = await run("nft", [
        "--echo",
        "--handle",
        "add",
        "rule",
        NFT_FAMILY,
        NFT_TABLE,
        this.#chain,
        ...match,
        ...TCP_SYN_ONLY,
        "drop",
      ]);
      const handle = /# handle (\d+)/.exec(echo)?.[1];
      if (handle === undefined) {
        throw new TestNetworkError(
          `Cannot find the handle of the rule dropping SYNs to '${ip}:${port}' in nft's echo: '${echo.trim()}'`,
        );
      }
      this.#rules.set(key, Number(handle));
    });
  }

  /**
   * Removes the rule {@linkcode TestNetwork.drop} added for `ip:port`; a no-op if there is none.
   *
   * @throws {TestNetworkError} if `ip` or `port` is invalid or `nft` fails.
   */
  async undrop(ip: string, port: number): Promise<void> {
    const { address } = parseTestAddress(ip);
    validatePort(ip, port);
    return await this.#serially(
      `stop dropping SYNs to '${ip}:${port}'`,
      () => this.#deleteRule(`${address} ${port}`),
    );
  }

  /**
   * Removes every address and rule this instance added, then the nftables table if no other
   * instance uses it. Idempotent; failures are collected and thrown together at the end.
   *
   * @throws {AggregateError} of the {@linkcode TestNetworkError}s if anything could not be removed.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#queue.then(() => {});
    this.#closed = true;
    const done = this.#queue.then(async () => {
      const errors: unknown[] = [];
      if (this.#chainCreated) {
        try {
          await this.#deleteChain();
        } catch (error) {
          errors.push(error);
        }
      }
      for (const address of [...this.#addresses]) {
        try {
          await this.#removeAddress(address);
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) {
        throw new AggregateError(errors, "Cannot clean up the test network completely");
      }
    });
    this.#queue = done.catch(() => {});
    return done;
  }

  /** Same as {@linkcode TestNetwork.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs `change` after every change requested before it, unless the network is closed. */
  #serially(what: string, change: () => Promise<void>): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new TestNetworkError(`Cannot ${what} as the test network is closed`));
    }
    const done = this.#queue.then(change);
    this.#queue = done.catch(() => {});
    return done;
  }

  async #removeAddress(address: string): Promise<void> {
    const prefix = address.includes(":") ? 128 : 32;
    try {
      await run("ip", ["addr", "del", `${address}/${prefix}`, "dev", "lo"]);
    } catch (error) {
      // Already gone (removed by someone else) is fine.
      const gone = error instanceof TestNetworkCommandError &&
        /Cannot assign requested address|address not found/i.test(error.stderr);
      if (!gone) throw error;
    }
    this.#addresses.delete(address);
  }

  async #deleteRule(key: string): Promise<void> {
    const handle = this.#rules.get(key);
    if (handle === undefined) return;
    await run("nft", ["delete", "rule", NFT_FAMILY, NFT_TABLE, this.#chain, "handle", `${handle}`]);
    this.#rules.delete(key);
  }

  async #ensureChain(): Promise<void> {
    if (this.#chainCreated) return;
    // `add table` is a no-op when the table exists (another instance may have created it).
    await run("nft", ["add", "table", NFT_FAMILY, NFT_TABLE]);
    await run("nft", [
      "add",
      "chain",
      NFT_FAMILY,
      NFT_TABLE,
      this.#chain,
      "{ type filter hook input priority 0; policy accept; }",
    ]);
    this.#chainCreated = true;
  }

  /** Deletes this instance's chain, then the table if no other instance has a chain in it. */
  async #deleteChain(): Promise<void> {
    await run("nft", ["flush", "chain", NFT_FAMILY, NFT_TABLE, this.#chain]);
    this.#rules.clear();
    await run("nft", ["delete", "chain", NFT_FAMILY, NFT_TABLE, this.#chain]);
    this.#chainCreated = false;
    const listing = JSON.parse(
      await run("nft", ["-j", "list", "table", NFT_FAMILY, NFT_TABLE]),
    ) as { nftables?: Record<string, unknown>[] };
    const chains = (listing.nftables ?? []).filter((item) => "chain" in item);
    if (chains.length === 0) {
      await run("nft", ["delete", "table", NFT_FAMILY, NFT_TABLE]);
    }
  }
}
