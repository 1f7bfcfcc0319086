/**
 * Helpers of the notification tests: a health simulator that produces the agent's transitions,
 * a scripted fetch for fake-clock tests, a real HTTP receiver on 127.0.0.1 for the others, and
 * a logger whose lines are kept.
 *
 * @module
 */

import type { TargetTransition } from "../../src/agent.ts";
import { equal as assertEquals } from "node:assert/strict";
import type { AlertSettings, Config, ServiceConfig } from "../../src/config/schema.ts";
import {
  type ChannelName,
  createNotifier,
  type CreateNotifierOptions,
  type DeliveryResult,
  type DropReason,
} from "../../src/notify/mod.ts";
import type { WebhookPayload } from "../../src/notify/webhook.ts";
import { FakeClock } from "../support/fakes.ts";
import type { Clock } from "../../src/health/scheduler.ts";
import type { HealthStatus } from "../../src/health/state.ts";
import { Logger } from "../../src/observe/log.ts";

/** The secret part of the test webhook URLs: must never show up in a log line. */
export const SIG = "S1g-0f-th3-W3bh00k";

/** The path of a Workflows webhook, with its credential in the query (`sig`). */
export const WORKFLOW_PATH =
  `/workflows/0123456789abcdef/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers&sv=1.0&sig=${SIG}`;

/** Produces the transitions the agent would emit for one Service, with correct counts. */
export class HealthSim {
  readonly service: ServiceConfig;
  readonly #clock: Clock;
  readonly #status = new Map<string, { status: HealthStatus; since: number }>();

  constructor(service: ServiceConfig, clock: Clock) {
    this.service = service;
    this.#clock = clock;
    for (const target of service.targets) {
      this.#status.set(target.address, { status: "unknown", since: clock.now() });
    }
  }

  /** Moves a target to `to` now and returns the transition (undefined when nothing changes). */
  set(
    address: string,
    to: "healthy" | "unhealthy",
    error = "connection refused",
  ): TargetTransition | undefined {
    const state = this.#status.get(address);
    const target = this.service.targets.find((t) => t.address === address);
    if (state === undefined || target === undefined) throw new Error(`unknown target ${address}`);
    if (state.status === to) return undefined;
    const now = this.#clock.now();
    const from = state.status;
    const after = now - state.since;
    state.status = to;
    state.since = now;
    const statuses = [...this.#status.values()].map((s) => s.status);
    return {
      from,
      to,
      at: now,
      after,
      ...(to === "unhealthy" ? { error } : {}),
      service: this.service,
      target,
      healthy: statuses.filter((s) => s === "healthy").length,
      unhealthy: statuses.filter((s) => s === "unhealthy").length,
      total: statuses.length,
    };
  }

  /** Every target healthy (from unknown): the transitions. */
  allHealthy(): TargetTransition[] {
    return this.service.targets.flatMap((t) => this.set(t.address, "healthy") ?? []);
  }
}

/** A logger whose lines (JSON) are kept in `lines`. */
export function captureLog(level: "debug" | "info" = "debug"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger({ level, write: (line) => lines.push(line) }), lines };
}

/** Fails when a log line contains the URL, its path or its secret. */
export function assertNoSecretLogged(lines: readonly string[], url: string): void {
  const parsed = new URL(url);
  const forbidden = [url, SIG, parsed.pathname, parsed.search];
  for (const line of lines) {
    for (const secret of forbidden) {
      if (secret.length > 1 && line.includes(secret)) {
        throw new Error(`a log line contains the webhook URL (${JSON.stringify(secret)}): ${line}`);
      }
    }
  }
}

/** What a scripted or real webhook answers to one request. */
export type Answer =
  | { readonly status: number; readonly retryAfter?: string; readonly body?: string }
  | "hang";

/** One request a webhook received. */
export interface Received {
  /** `performance.now()` when the request arrived (real receiver) or the fake clock's time. */
  readonly at: number;
  readonly path: string;
  readonly body: string;
  readonly json: unknown;
}

/**
 * A fetch that answers from a script (default 202) and records requests, for fake-clock tests.
 * "hang" never answers until the request's signal aborts.
 */
export class ScriptedFetch {
  readonly requests: Received[] = [];
  readonly #answers: Answer[] = [];
  readonly #clock: Clock;
  /** Answer when the script is empty. */
  fallback: Answer = { status: 202 };
  /** Answers a request by its body before the script does (undefined: the script answers). */
  route?: (json: unknown) => Answer | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Queues answers for the next requests, in order. */
  answer(...answers: Answer[]): void {
    this.#answers.push(...answers);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const body = String(init?.body ?? "");
    this.requests.push({
      at: this.#clock.now(),
      path: url.pathname + url.search,
      body,
      json: JSON.parse(body),
    });
    const answer = this.route?.(JSON.parse(body)) ?? this.#answers.shift() ?? this.fallback;
    if (answer === "hang") {
      const signal = init?.signal;
      await new Promise<never>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    const { status, retryAfter, body: text } = answer as Exclude<Answer, "hang">;
    return new Response(text ?? "", {
      status,
      headers: retryAfter === undefined ? {} : { "retry-after": retryAfter },
    });
  };
}

/** A real HTTP webhook on 127.0.0.1 that records requests and answers from a script. */
export interface Receiver extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` + `path`. */
  url(path?: string): string;
  readonly requests: Received[];
  /** Requests answered "hang" and not released yet. */
  readonly hanging: number;
  /** Queues answers for the next requests (default 200). */
  answer(...answers: Answer[]): void;
  /** Answers a request by its body before the script does (undefined: the script answers). */
  route?: (json: unknown) => Answer | undefined;
  /** Resolves once `n` requests arrived (fails after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  /** Answers the hanging requests, then stops the server. */
  close(): Promise<void>;
}

/** Starts a {@linkcode Receiver}. */
export function startReceiver(): Receiver {
  const requests: Received[] = [];
  const answers: Answer[] = [];
  const release = Promise.withResolvers<void>();
  const waiters: { n: number; resolve: () => void }[] = [];
  let hanging = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const body = await request.text();
      requests.push({
        at: performance.now(),
        path: url.pathname + url.search,
        body,
        json: JSON.parse(body),
      });
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.n) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      const answer = receiver.route?.(JSON.parse(body)) ?? answers.shift() ?? { status: 200 };
      if (answer === "hang") {
        hanging++;
        const aborted = new Promise<void>((resolve) =>
          request.signal.addEventListener("abort", () => resolve(), { once: true })
        );
        await Promise.race([release.promise, aborted]);
        hanging--;
        return new Response("late", { status: 200 });
      }
      return new Response(answer.body ?? "", {
        status: answer.status,
        headers: answer.retryAfter === undefined ? {} : { "retry-after": answer.retryAfter },
      });
    },
  );
  const close = async () => {
    release.resolve();
    await server.shutdown();
  };
  const receiver: Receiver = {
    url: (path = WORKFLOW_PATH) => `http://127.0.0.1:${server.addr.port}${path}`,
    requests,
    get hanging() {
      return hanging;
    },
    answer: (...more) => void answers.push(...more),
    waitFor(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(
            new Error(`expected ${n} requests within ${timeoutMs} ms, got ${requests.length}`),
          );
        }, timeoutMs);
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        };
        waiters.push(waiter);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return receiver;
}

/** The facts of an Adaptive Card as `title → value`, from every FactSet. */
export function factsOf(card: Record<string, unknown>): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const element of card.body as Record<string, unknown>[]) {
    if (element.type !== "FactSet") continue;
    for (const fact of element.facts as { title: string; value: string }[]) {
      facts[fact.title] = fact.value;
    }
  }
  return facts;
}

/** The card of a Workflows message, after checking the envelope. */
export function cardOf(message: unknown): Record<string, unknown> {
  const m = message as {
    type?: string;
    attachments?: { contentType?: string; content?: Record<string, unknown> }[];
  };
  if (m.type !== "message" || m.attachments?.length !== 1) {
    throw new Error(`not a Workflows message: ${JSON.stringify(message).slice(0, 200)}`);
  }
  const [attachment] = m.attachments;
  if (attachment?.contentType !== "application/vnd.microsoft.card.adaptive") {
    throw new Error(`wrong content type: ${attachment?.contentType}`);
  }
  return attachment.content!;
}

/** The title and colour of a card (its first TextBlock and its container's style). */
export function headerOf(card: Record<string, unknown>): {
  title: string;
  style: string;
  color: string;
} {
  const [container] = card.body as { style: string; items: { text: string; color: string }[] }[];
  return {
    title: container!.items[0]!.text,
    style: container!.style,
    color: container!.items[0]!.color,
  };
}

/** A Teams Workflows URL of the notifier beds (never to be logged). */
export const BED_TEAMS_URL = `https://prod-42.westeurope.logic.azure.com${WORKFLOW_PATH}`;
/** A JSON webhook URL of the notifier beds (never to be logged). */
export const BED_HOOK_URL = "https://hooks.example.com/services/T000/B000/s3cr3tt0ken";

/**
 * A notifier on a fake clock with scripted webhooks, for one Service and the alert settings
 * given (their channels use {@linkcode BED_TEAMS_URL} and {@linkcode BED_HOOK_URL}): what it
 * sent, as Teams cards and JSON payloads, and `close`, which also checks that no timer is left
 * and no URL was logged.
 */
export function notifierBed(
  service: ServiceConfig,
  alerts: AlertSettings,
  options: Partial<CreateNotifierOptions> = {},
) {
  const clock = new FakeClock();
  const fake = new ScriptedFetch(clock);
  const { log, lines } = captureLog();
  const config: Config = { format: "structured", services: [service], alerts };
  const results: ([ChannelName, DeliveryResult] | [ChannelName, DeliveryResult, DropReason])[] = [];
  const notifier = createNotifier(config, {
    log,
    cluster: "prod-eu",
    fetch: fake.fetch,
    clock,
    random: () => 0.5,
    onResult: (channel, result, reason) =>
      results.push(reason === undefined ? [channel, result] : [channel, result, reason]),
    ...options,
  });
  if (!notifier) throw new Error("the bed's alert settings configure no channel");
  const json = () =>
    fake.requests.filter((r) => r.path.startsWith("/services")).map((r) =>
      r.json as WebhookPayload
    );
  const cards = () =>
    fake.requests.filter((r) => r.path.startsWith("/workflows")).map((r) => cardOf(r.json));
  const close = async () => {
    const closing = notifier.close(1000);
    await clock.advance(1000);
    await closing;
    assertEquals(clock.pending, 0, "no timer left");
    assertNoSecretLogged(lines, BED_TEAMS_URL);
    assertNoSecretLogged(lines, BED_HOOK_URL);
  };
  return { clock, fake, notifier, json, cards, results, lines, close };
}
