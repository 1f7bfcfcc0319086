/**
 * Who writes our objects. Every object HELASEID writes carries the writer's identity and a
 * hash of the configuration that decided its contents, so that an agent can tell its own
 * writes from another agent's (two agents fighting over one Service), and an operator can see
 * in `kubectl get -o yaml` which process wrote what.
 *
 * @module
 */

import type { ServiceConfig } from "../config/schema.ts";

/** Annotation naming the process that last wrote the object. */
export const ANNOTATION_WRITER = "helaseid.io/writer";
/** Annotation with the hash of the Service configuration behind the object's contents. */
export const ANNOTATION_CONFIG_HASH = "helaseid.io/config-hash";

/** The longest identity kept (annotation values may be longer; operators read this one). */
const IDENTITY_LIMIT = 128;

/**
 * The writer identity of this process: `HELASEID_WRITER_ID` when set, else the pod name
 * (`POD_NAME`, else `HOSTNAME`, which Kubernetes sets to it), else the host name, followed by
 * `/` and the process id, so two agents on one host differ. A restarted agent usually gets a
 * new identity; that is fine, as an agent adopts whatever it finds when it starts.
 */
export function writerIdentity(
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly pid?: number; readonly hostname?: () => string | undefined } = {},
): string {
  const given = env.HELASEID_WRITER_ID?.trim();
  if (given) return given.slice(0, IDENTITY_LIMIT);
  const host = env.POD_NAME || env.HOSTNAME || (options.hostname ?? systemHostname)() ||
    "helaseid";
  return `${host.slice(0, IDENTITY_LIMIT - 12)}/${options.pid ?? Deno.pid}`;
}

/**
 * A hash of what decides a Service's published objects: its name, namespace, ports, targets
 * (in any order) and publish options. Probe settings are left out: two agents that publish the
 * same targets differently only for a moment (a different interval) do not fight.
 */
export function configHash(config: ServiceConfig): string {
  const targets = [...config.targets]
    .map((target) => [target.address, target.zone ?? null, target.hostname ?? null])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const ports = [...config.ports]
    .map((port) => [port.name, port.port, port.protocol, port.appProtocol ?? null])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1]));
  const publish = Object.entries(config.publish).sort(([a], [b]) => a.localeCompare(b));
  return fnv1a64(JSON.stringify([config.namespace, config.name, ports, targets, publish]));
}

/**
 * The host name without asking for a permission the binary is not granted (`--allow-sys`
 * would prompt on a terminal): `Deno.hostname()` only when allowed, else `/etc/hostname`.
 */
export function systemHostname(): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
      return Deno.hostname();
    }
    return Deno.readTextFileSync("/etc/hostname").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** 64-bit FNV-1a of the UTF-16 code units, as 16 hex digits. */
export function fnv1a64(text: string): string {
  const mask = (1n << 64n) - 1n;
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & mask;
  }
  return hash.toString(16).padStart(16, "0");
}
