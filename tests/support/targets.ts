/**
 * Simulated probe targets: one TCP listener per `address:port` on a {@linkcode TestNetwork},
 * switchable at any time between the failure modes DESIGN.md §4 asks for.
 *
 * | mode       | what a client's `connect` sees                                              |
 * | ---------- | --------------------------------------------------------------------------- |
 * | `"accept"` | connects; the server closes the connection at once (EOF)                    |
 * | `"refuse"` | connection refused (no listener)                                            |
 * | `"drop"`   | times out (the listener stays but nftables drops the SYNs)                  |
 * | `"hang"`   | connects; the server never reads, writes or closes                          |
 * | `"absent"` | network unreachable: the address is removed from `lo`, **for every port**   |
 *
 * Addresses are shared: a target adds its address when it starts unless it is already there,
 * and the address is removed when the last target on it closes (never if the test added it
 * itself with {@linkcode TestNetwork.addAddress}). An address is on `lo` exactly while no
 * target on it is `"absent"`, so one target's `"absent"` takes down the other ports on that
 * address too, and they come back when no target on it is `"absent"` any more.
 *
 * Every change on one network is applied one at a time in call order, so switching modes
 * concurrently is safe and the last call wins.
 *
 * ```ts
 * await using net = await TestNetwork.open();
 * await using target = await startTarget(net, { address: "192.0.2.10", port: 9092 });
 * await target.setMode("drop");
 * ```
 *
 * @module
 */

import { until } from "./wait.ts";
import { parseTestAddress, type TestNetwork } from "./testnet.ts";

/** How a simulated target treats connections; see the module documentation. */
export type TargetMode = "accept" | "refuse" | "drop" | "hang" | "absent";

/** Every {@linkcode TargetMode}. */
export const TARGET_MODES: readonly TargetMode[] = ["accept", "refuse", "drop", "hang", "absent"];

/** Modes in which the target has a listener (while its address is on `lo`). */
const LISTENING: ReadonlySet<TargetMode> = new Set(["accept", "drop", "hang"]);

/** Where a simulated target listens and how it starts. */
export interface TargetSpec {
  /** A TEST-NET address: 192.0.2.0/24 or 2001:db8::/32. */
  readonly address: string;
  /**
   * The TCP port; 0 picks a free one (then the address must be on `lo` at start, that is no
   * other target on it may be `"absent"`).
   */
  readonly port: number;
  /** The initial mode; defaults to `"accept"`. */
  readonly mode?: TargetMode;
}

/** A simulated target; close it (or `await using` it) before its network. */
export interface SimulatedTarget extends AsyncDisposable {
  /** The address, canonical (IPv6 lower case and compressed). */
  readonly address: string;
  /** The port, the one picked if the spec said 0. */
  readonly port: number;
  /** The current mode (the last one requested). */
  readonly mode: TargetMode;
  /** How many connections the listener accepted so far, in any mode. */
  readonly acceptedCount: number;
  /** Whether {@linkcode SimulatedTarget.close} has run. */
  readonly closed: boolean;
  /**
   * Switches to `mode` and resolves once clients see it; a no-op if already there.
   * Leaving `"hang"` closes the connections it held.
   */
  setMode(mode: TargetMode): Promise<void>;
  /** Closes the listener and held connections, removes its rule and releases the address. Idempotent. */
  close(): Promise<void>;
}

/** Why a simulated target could not start, switch or close. */
export class TargetError extends Error {
  /** Creates the error; `options.cause` is the wrapped error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TargetError";
  }
}

/**
 * Starts a simulated target on `net`, adding its address to `lo` if needed.
 *
 * @throws {TargetError} if the spec is invalid, `address:port` is taken or the network failed.
 */
export function startTarget(net: TestNetwork, spec: TargetSpec): Promise<SimulatedTarget> {
  return _Target.start(net, spec);
}

/**
 * Starts many targets (one listener each, a few commands per address); if any fails, closes the
 * ones that started and throws.
 *
 * @throws {TargetError} as {@linkcode startTarget} does, or {@linkcode AggregateError} of them.
 */
export async function startTargets(
  net: TestNetwork,
  specs: Iterable<TargetSpec>,
): Promise<SimulatedTarget[]> {
  const results = await Promise.allSettled([...specs].map((spec) => startTarget(net, spec)));
  const started = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const errors = results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
  if (errors.length === 0) return started;
  await Promise.allSettled(started.map((target) => target.close()));
  throw errors.length === 1 ? errors[0] : new AggregateError(errors, "Cannot start the targets");
}

/** The targets sharing one address, and whether the address is on `lo` now. */
interface AddressEntry {
  readonly address: string;
  readonly targets: Set<_Target>;
  /** The targets in `"absent"` mode: the address is on `lo` exactly while this is empty. */
  readonly absent: Set<_Target>;
  /** Ports in use by the targets. */
  readonly ports: Set<number>;
  present: boolean;
  /** The test added the address itself: leave it as found when the last target closes. */
  readonly external: boolean;
}

/** The state of every target on one network, changed by one operation at a time. */
interface Book {
  readonly entries: Map<string, AddressEntry>;
  queue: Promise<unknown>;
}

const books = new WeakMap<TestNetwork, Book>();

function bookOf(net: TestNetwork): Book {
  let book = books.get(net);
  if (book === undefined) {
    book = { entries: new Map(), queue: Promise.resolve() };
    books.set(net, book);
  }
  return book;
}

/** Runs `change` after every change requested before it on the same network. */
function serially<T>(book: Book, change: () => Promise<T>): Promise<T> {
  const done = book.queue.then(change);
  book.queue = done.catch(() => {});
  return done;
}

function validateMode(mode: unknown, what: string): asserts mode is TargetMode {
  if (!TARGET_MODES.includes(mode as TargetMode)) {
    throw new TargetError(
      `Cannot ${what} as 'mode' must be one of ${
        TARGET_MODES.map((m) => `'${m}'`).join(", ")
      }: current value is '${String(mode)}'`,
    );
  }
}

class _Target implements SimulatedTarget {
  readonly #net: TestNetwork;
  readonly #book: Book;
  readonly #entry: AddressEntry;
  #port: number;
  #mode: TargetMode = "refuse";
  #accepted = 0;
  #closed = false;
  #listener: Deno.TcpListener | null = null;
  #acceptLoop: Promise<void> = Promise.resolve();
  /** The first error of an accept loop that stopped on its own, thrown by close(). */
  #loopError: unknown;
  #dropping = false;
  /** Connections accepted in `"hang"` mode, closed when the target leaves it. */
  readonly #held = new Set<Deno.TcpConn>();

  private constructor(net: TestNetwork, book: Book, entry: AddressEntry, port: number) {
    this.#net = net;
    this.#book = book;
    this.#entry = entry;
    this.#port = port;
  }

  static async start(net: TestNetwork, spec: TargetSpec): Promise<_Target> {
    const where = `'${spec.address}:${spec.port}'`;
    let address: string;
    try {
      address = parseTestAddress(spec.address).address;
    } catch (error) {
      throw new TargetError(`Cannot start a target on ${where}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) {
      throw new TargetError(
        `Cannot start a target on ${where} as 'port' must be an integer from 0 to 65535: current value is ${spec.port}`,
      );
    }
    const mode = spec.mode ?? "accept";
    validateMode(mode, `start a target on ${where}`);
    const book = bookOf(net);
    return await serially(book, async () => {
      if (net.closed) {
        throw new TargetError(`Cannot start a target on ${where} as its test network is closed`);
      }
      const entry = await _Target.#enter(net, book, address);
      if (entry.ports.has(spec.port)) {
        await _Target.#leave(net, book, entry);
        throw new TargetError(`Cannot start a target on ${where} as another target uses it`);
      }
      const target = new _Target(net, book, entry, spec.port);
      entry.targets.add(target);
      try {
        if (spec.port === 0) {
          // Bind once to learn the port; #apply closes the listener again if `mode` has none.
          target.#listen();
          target.#port = target.#listener?.addr.port ?? 0;
          if (entry.ports.has(target.#port)) {
            throw new TargetError(
              `Cannot start a target on ${where} as the port picked, ${target.#port}, belongs to a target without listener: start it again`,
            );
          }
        }
        entry.ports.add(target.#port);
        await target.#switch(mode);
      } catch (error) {
        await target.#shutdown().catch(() => {});
        throw error instanceof TargetError ? error : new TargetError(
          `Cannot start a target on ${where} in mode '${mode}': ${String(error)}`,
          { cause: error },
        );
      }
      return target;
    });
  }

  get address(): string {
    return this.#entry.address;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): TargetMode {
    return this.#mode;
  }

  get acceptedCount(): number {
    return this.#accepted;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async setMode(mode: TargetMode): Promise<void> {
    validateMode(mode, `switch target '${this.#where}'`);
    return await serially(this.#book, async () => {
      if (this.#closed) {
        throw new TargetError(
          `Cannot switch target '${this.#where}' to '${mode}' as the target is closed`,
        );
      }
      try {
        await this.#switch(mode);
      } catch (error) {
        throw new TargetError(
          `Cannot switch target '${this.#where}' to '${mode}': ${String(error)}`,
          { cause: error },
        );
      }
    });
  }

  close(): Promise<void> {
    return serially(this.#book, async () => {
      if (this.#closed) return;
      await this.#shutdown();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get #where(): string {
    const address = this.#entry.address;
    return address.includes(":") ? `[${address}]:${this.#port}` : `${address}:${this.#port}`;
  }

  /** Finds or creates the entry of `address`, adding the address to `lo` if it is new. */
  static async #enter(net: TestNetwork, book: Book, address: string): Promise<AddressEntry> {
    const existing = book.entries.get(address);
    if (existing !== undefined) return existing;
    const external = net.hasAddress(address);
    if (!external) await net.addAddress(address);
    const entry: AddressEntry = {
      address,
      targets: new Set(),
      absent: new Set(),
      ports: new Set(),
      present: true,
      external,
    };
    book.entries.set(address, entry);
    return entry;
  }

  /** Forgets `entry` if no target is left on it, leaving the address as the test had it. */
  static async #leave(net: TestNetwork, book: Book, entry: AddressEntry): Promise<void> {
    if (entry.targets.size > 0) return;
    book.entries.delete(entry.address);
    if (net.closed) return; // The network removed its addresses itself.
    if (entry.present && !entry.external) await net.removeAddress(entry.address);
    if (!entry.present && entry.external) await net.addAddress(entry.address);
  }

  /** Makes `mode` real: the address for all its targets, then this target's rule and listener. */
  async #switch(mode: TargetMode): Promise<void> {
    this.#mode = mode;
    if (mode === "absent") this.#entry.absent.add(this);
    else this.#entry.absent.delete(this);
    await this.#syncAddress();
    // Drop before listening and listen before undropping, so no SYN slips through on the way.
    if (mode === "drop" && !this.#dropping) {
      await this.#net.drop(this.#entry.address, this.#port);
      this.#dropping = true;
    }
    await this.#syncListener();
    if (mode !== "drop" && this.#dropping) {
      await this.#net.undrop(this.#entry.address, this.#port);
      this.#dropping = false;
    }
    if (mode !== "hang") this.#releaseHeld();
  }

  /**
   * Puts the address on `lo` exactly while no target on it is absent; the listeners of all
   * targets on it close before the address goes and reopen after it is back.
   */
  async #syncAddress(): Promise<void> {
    const entry = this.#entry;
    const wanted = entry.absent.size === 0;
    if (wanted === entry.present) return;
    if (wanted) {
      await this.#net.addAddress(entry.address);
      entry.present = true;
    } else {
      entry.present = false;
    }
    for (const target of entry.targets) await target.#syncListener();
    if (!wanted) await this.#net.removeAddress(entry.address);
  }

  /** Opens or closes the listener as the mode and the address's presence require. */
  async #syncListener(): Promise<void> {
    const wanted = !this.#closed && LISTENING.has(this.#mode) && this.#entry.present;
    if (wanted && this.#listener === null) this.#listen();
    else if (!wanted && this.#listener !== null) await this.#closeListener();
  }

  #listen(): void {
    const listener = Deno.listen({ hostname: this.#entry.address, port: this.#port });
    this.#listener = listener;
    this.#acceptLoop = this.#accept(listener);
  }

  async #closeListener(): Promise<void> {
    const listener = this.#listener;
    if (listener === null) return;
    this.#listener = null;
    listener.close();
    await this.#acceptLoop;
  }

  /**
   * Accepts until `listener` is closed: each connection is counted, then held in `"hang"`
   * mode or closed at once in any other.
   */
  async #accept(listener: Deno.TcpListener): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (this.#listener === listener) {
          // Stopped for another reason than close (out of descriptors?): report at close.
          this.#loopError ??= error;
          this.#listener = null;
          listener.close();
        }
        return;
      }
      this.#accepted++;
      if (this.#mode === "hang" && this.#listener === listener) this.#held.add(conn);
      else conn.close();
    }
  }

  #releaseHeld(): void {
    for (const conn of this.#held) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#held.clear();
  }

  /** Releases everything the target holds; must run serially on the book. */
  async #shutdown(): Promise<void> {
    this.#closed = true;
    const entry = this.#entry;
    const errors: unknown[] = [];
    await this.#closeListener();
    this.#releaseHeld();
    entry.targets.delete(this);
    entry.ports.delete(this.#port);
    entry.absent.delete(this);
    const steps: (() => Promise<void>)[] = [
      async () => {
        if (this.#dropping && !this.#net.closed) {
          await this.#net.undrop(entry.address, this.#port);
        }
        this.#dropping = false;
      },
      async () => {
        if (entry.targets.size > 0 && !this.#net.closed) await this.#syncAddress();
      },
      () => _Target.#leave(this.#net, this.#book, entry),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (this.#loopError !== undefined) errors.push(this.#loopError);
    if (errors.length > 0) {
      throw new AggregateError(errors, `Cannot close target '${this.#where}' cleanly`);
    }
  }
}

/**
 * Resolves once `target` has accepted `count` more connections than when called (that many
 * checks of it ran: the positive end of a window that must span `count` check intervals);
 * fails naming the target after `timeoutMs` (default 30 s).
 */
export async function untilChecked(
  target: SimulatedTarget,
  count: number,
  timeoutMs?: number,
): Promise<void> {
  const start = target.acceptedCount;
  await until(
    `${count} more connections to ${target.address}:${target.port} (seen ${start})`,
    () => target.acceptedCount >= start + count,
    timeoutMs === undefined ? {} : { timeoutMs },
  );
}
