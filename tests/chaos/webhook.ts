/**
 * The chaos run's alert webhook: a JSON receiver on 127.0.0.1 whose answer the schedule
 * switches between 200, 429 (with Retry-After), 503 and hanging.
 *
 * @module
 */

/** How the webhook answers. */
export type WebhookAnswer = "ok" | "429" | "5xx" | "hang";

/** A running webhook. */
export interface ChaosWebhook extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` + `path`. */
  url(path: string): string;
  /** Requests answered so far, by answer. */
  readonly answered: Readonly<Record<WebhookAnswer, number>>;
  /** Switches the answer; leaving `hang` answers the held requests with 503. */
  set(answer: WebhookAnswer): void;
  /** Releases held requests and stops the server. */
  close(): Promise<void>;
}

/** Starts the webhook, answering 200. */
export function startChaosWebhook(): ChaosWebhook {
  let answer: WebhookAnswer = "ok";
  let release = Promise.withResolvers<void>();
  const answered: Record<WebhookAnswer, number> = { ok: 0, "429": 0, "5xx": 0, hang: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.body?.cancel();
      const now = answer;
      answered[now]++;
      if (now === "hang") {
        // Held until the answer changes (the agent's own timeout ends its side first).
        await release.promise;
        return new Response("released", { status: 503 });
      }
      if (now === "429") {
        return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
      }
      return now === "5xx" ? new Response("down", { status: 503 }) : new Response("ok");
    },
  );
  const close = async () => {
    release.resolve();
    await server.shutdown();
  };
  return {
    url: (path) => `http://127.0.0.1:${server.addr.port}${path}`,
    answered,
    set(next) {
      if (answer === "hang" && next !== "hang") {
        release.resolve();
        release = Promise.withResolvers<void>();
      }
      answer = next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
