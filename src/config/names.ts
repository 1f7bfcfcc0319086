/**
 * Validators of the names target sources take (issue 12): DNS names, Kubernetes label
 * selectors and nameserver addresses. Each says what is wrong and what is allowed, so that a
 * typo is a configuration error at start instead of a 400 from the API or a silent empty set.
 *
 * @module
 */

import { isIP } from "node:net";
import { type Checked, failed, passed } from "./issues.ts";
import { kindOf, quote } from "./validate.ts";

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * A DNS name to resolve: labels of letters, digits, `-` and `_` (SRV names start with `_`),
 * at most 63 characters each and 253 in all, an optional final dot. Lower-cased.
 */
export function checkDnsName(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a DNS name, not ${kindOf(value)}`);
  const name = value.trim().toLowerCase();
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (bare === "") return failed("must not be empty");
  if (bare.length > 253) return failed(`${quote(value)} is longer than 253 characters`);
  for (const label of bare.split(".")) {
    if (!LABEL.test(label)) {
      return failed(
        `${quote(value)} is not a DNS name: label ${quote(label)} must be 1-63 letters, digits, ` +
          "'-' or '_', not starting or ending with '-'",
      );
    }
  }
  return passed(name);
}

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * A Kubernetes label selector as `kubectl -l` takes it: requirements separated by commas, each
 * `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or `key notin (a,b)`.
 */
export function checkLabelSelector(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a label selector, not ${kindOf(value)}`);
  const text = value.trim();
  if (text === "") return passed("");
  const requirements: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      requirements.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) break;
  }
  requirements.push(text.slice(start));
  const bad = (part: string, why: string) =>
    failed(
      `${quote(value)} is not a label selector: ${quote(part.trim())} ${why} (allowed: key, ` +
        "!key, key=value, key!=value, key in (a,b), key notin (a,b), separated by commas)",
    );
  if (depth !== 0) return bad(text, "has unbalanced parentheses");
  for (const raw of requirements) {
    const part = raw.trim();
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (set) {
      if (!KEY.test(set[1]!)) return bad(part, "has an invalid key");
      const values = set[3]!.split(",").map((v) => v.trim());
      if (values.some((v) => !VALUE.test(v))) return bad(part, "has an invalid value");
      continue;
    }
    const pair = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (pair) {
      if (!KEY.test(pair[1]!)) return bad(part, "has an invalid key");
      if (!VALUE.test(pair[3]!)) return bad(part, "has an invalid value");
      continue;
    }
    const exists = /^!?\s*(\S+)$/.exec(part);
    if (exists && KEY.test(exists[1]!)) continue;
    return bad(part, "is not a requirement");
  }
  return passed(text);
}

/**
 * A nameserver: an IP address with an optional port (`192.0.2.53`, `192.0.2.53:5353`,
 * `2001:db8::53`, `[2001:db8::53]:5353`). Any address is allowed, loopback too (a local
 * resolver). Normalized to `host:port` with IPv6 in brackets.
 */
export function checkNameserver(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be an IP address, not ${kindOf(value)}`);
  const text = value.trim();
  let host = text;
  let port = 53;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const withPort = /^([^:]+):(\d+)$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (withPort) {
    host = withPort[1]!;
    port = Number(withPort[2]);
  }
  const family = isIP(host);
  if (family === 0) {
    return failed(
      `${quote(value)} is not a nameserver: an IP address with an optional port ` +
        "(192.0.2.53, 192.0.2.53:5353, [2001:db8::53]:5353)",
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return failed(`${quote(value)}: port must be 1-65535`);
  }
  return passed(family === 6 ? `[${host.toLowerCase()}]:${port}` : `${host}:${port}`);
}

/**
 * A cluster's name (a kubeconfig context's, as kubeconfigs write them: `kind-east`,
 * `gke_project_zone_name`, `arn:aws:eks:...:cluster/x`): 1-253 characters, no space or comma.
 */
export function checkClusterName(value: unknown): Checked<string> {
  if (typeof value !== "string") return failed(`must be a cluster name, not ${kindOf(value)}`);
  const name = value.trim();
  if (!/^[A-Za-z0-9_.:/@+-]{1,253}$/.test(name)) {
    return failed(
      `${quote(value)} is not a cluster name: 1-253 letters, digits and '_.:/@+-', no spaces`,
    );
  }
  return passed(name);
}
