/**
 * DNS messages (RFC 1035), pure: the bytes of a query and a decoder of a response that never
 * throws, never loops and never reads past its input, whatever a server (or an attacker
 * spoofing one) sends. Only what the `dns` target source needs is modelled: the header, the
 * question, and A, AAAA, CNAME and SRV records (RFC 2782) of the answer and additional sections;
 * other records are kept as raw data so that a message round-trips.
 *
 * Names are text in presentation form without the final dot (`kafka.test`; the root is `.`);
 * a label byte that is not a printable character other than `.` and `\` is written `\DDD`,
 * and `.` and `\` inside a label are written `\.` and `\\` (RFC 4343 §2.1).
 *
 * @module
 */

/** Response codes (RFC 1035 §4.1.1) the source tells apart. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Numeric record types of the types modelled. */
export const TYPE_CODE = { A: 1, CNAME: 5, AAAA: 28, SRV: 33 } as const;

/** A record type the source asks for. */
export type QueryType = "A" | "AAAA" | "SRV";

/** The class IN, the only one asked for. */
const CLASS_IN = 1;
const utf8 = new TextEncoder();
const HEADER_BYTES = 12;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
/**
 * Compression pointers followed for one name before it is called a loop. Pointers must also
 * point backwards, which alone rules out loops; this bounds the work a crafted chain costs.
 */
const MAX_POINTERS = 64;

/** Why a message could not be encoded (a name that cannot be written on the wire). */
export class DnsEncodeError extends Error {
  /** Creates the error; `options.cause` is the wrapped error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DnsEncodeError";
  }
}

/** The question of a message. */
export interface DnsQuestion {
  /** The name asked for, in presentation form. */
  readonly name: string;
  /** The numeric type (`TYPE_CODE.A`, ...). */
  readonly type: number;
}

/** A resource record of the modelled types, or another type kept as raw data. */
export type DnsRecord =
  | {
    readonly type: "A" | "AAAA";
    readonly name: string;
    readonly ttl: number;
    readonly address: string;
  }
  | { readonly type: "CNAME"; readonly name: string; readonly ttl: number; readonly target: string }
  | {
    readonly type: "SRV";
    readonly name: string;
    readonly ttl: number;
    readonly priority: number;
    readonly weight: number;
    readonly port: number;
    readonly target: string;
  }
  | {
    readonly type: "OTHER";
    readonly name: string;
    readonly ttl: number;
    /** The numeric type. */
    readonly code: number;
    readonly data: Uint8Array;
  };

/** The fixed header (RFC 1035 §4.1.1) fields the client checks. */
export interface DnsHeader {
  /** The query id the response must echo. */
  readonly id: number;
  /** True for a response. */
  readonly qr: boolean;
  /** True when the message was truncated (ask again over TCP). */
  readonly tc: boolean;
  /** Recursion desired. */
  readonly rd: boolean;
  /** The response code (`RCODE`). */
  readonly rcode: number;
}

/** A decoded message. The authority section is checked and skipped. */
export interface DnsMessage extends DnsHeader {
  /** The question section (one question in practice). */
  readonly questions: readonly DnsQuestion[];
  /** The answer section, in the order sent. */
  readonly answers: readonly DnsRecord[];
  /** The additional section (an SRV target's addresses, when the server adds them). */
  readonly additional: readonly DnsRecord[];
}

/** A decoded message, or why the bytes are not one. */
export type DnsDecode =
  | { readonly ok: true; readonly message: DnsMessage }
  | { readonly ok: false; readonly reason: string };

/** A decoded header, or why the bytes are too short for one. */
export type DnsHeaderDecode =
  | { readonly ok: true; readonly header: DnsHeader }
  | { readonly ok: false; readonly reason: string };

/** The text name of a response code (`SERVFAIL`), or `RCODE 9` for one without a name here. */
export function rcodeName(rcode: number): string {
  for (const [name, code] of Object.entries(RCODE)) if (code === rcode) return name;
  return `RCODE ${rcode}`;
}

/** A random 16-bit query id (RFC 5452 §9.2: ids must be unpredictable). */
export function randomQueryId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

/**
 * The bytes of a recursive query (RD set) for `name` and `type` with `id`.
 *
 * @throws {DnsEncodeError} if `name` cannot be written on the wire (a label over 63 octets,
 * an empty label, over 255 octets in all).
 */
export function encodeQuery(name: string, type: QueryType, id: number): Uint8Array {
  return encodeMessage({
    id,
    qr: false,
    tc: false,
    rd: true,
    rcode: 0,
    questions: [{ name, type: TYPE_CODE[type] }],
    answers: [],
    additional: [],
  });
}

/**
 * The bytes of `message`, uncompressed (the client sends only queries; tests and fake servers
 * send the rest).
 *
 * @throws {DnsEncodeError} if a name cannot be written on the wire or a field is out of range.
 */
export function encodeMessage(message: DnsMessage): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint16(0, _uint(message.id, 0xffff, "id"));
  view.setUint16(
    2,
    (message.qr ? 0x8000 : 0) | (message.tc ? 0x0200 : 0) | (message.rd ? 0x0100 : 0) |
      _uint(message.rcode, 0xf, "rcode"),
  );
  view.setUint16(4, _uint(message.questions.length, 0xffff, "question count"));
  view.setUint16(6, _uint(message.answers.length, 0xffff, "answer count"));
  view.setUint16(10, _uint(message.additional.length, 0xffff, "additional count"));
  parts.push(header);
  for (const question of message.questions) {
    parts.push(encodeName(question.name));
    const fixed = new Uint8Array(4);
    new DataView(fixed.buffer).setUint16(0, _uint(question.type, 0xffff, "type"));
    new DataView(fixed.buffer).setUint16(2, CLASS_IN);
    parts.push(fixed);
  }
  for (const record of [...message.answers, ...message.additional]) {
    parts.push(..._encodeRecord(record));
  }
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

function _encodeRecord(record: DnsRecord): Uint8Array[] {
  let data: Uint8Array;
  let code: number;
  switch (record.type) {
    case "A":
    case "AAAA":
      data = record.type === "A" ? _ipv4Bytes(record.address) : _ipv6Bytes(record.address);
      code = TYPE_CODE[record.type];
      break;
    case "CNAME":
      data = encodeName(record.target);
      code = TYPE_CODE.CNAME;
      break;
    case "SRV": {
      const target = encodeName(record.target);
      data = new Uint8Array(6 + target.length);
      const view = new DataView(data.buffer);
      view.setUint16(0, _uint(record.priority, 0xffff, "priority"));
      view.setUint16(2, _uint(record.weight, 0xffff, "weight"));
      view.setUint16(4, _uint(record.port, 0xffff, "port"));
      data.set(target, 6);
      code = TYPE_CODE.SRV;
      break;
    }
    case "OTHER":
      data = record.data;
      code = record.code;
  }
  const fixed = new Uint8Array(10);
  const view = new DataView(fixed.buffer);
  view.setUint16(0, _uint(code, 0xffff, "type"));
  view.setUint16(2, CLASS_IN);
  view.setUint32(4, _uint(record.ttl, 0x7fffffff, "ttl"));
  view.setUint16(8, _uint(data.length, 0xffff, "data length"));
  return [encodeName(record.name), fixed, data];
}

function _uint(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new DnsEncodeError(
      `Cannot encode the DNS ${what} as it must be an integer from 0 to ${max}: current value is ${value}`,
    );
  }
  return value;
}

function _ipv4Bytes(address: string): Uint8Array {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new DnsEncodeError(`Cannot encode '${address}' as an A record: not an IPv4 address`);
  }
  return Uint8Array.from(parts.map(Number));
}

function _ipv6Bytes(address: string): Uint8Array {
  const fail = () =>
    new DnsEncodeError(`Cannot encode '${address}' as an AAAA record: not an IPv6 address`);
  const halves = address.split("::");
  if (halves.length > 2) throw fail();
  const groups = (text: string) => text === "" ? [] : text.split(":");
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const zeros = 8 - head.length - tail.length;
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) throw fail();
  const all = [...head, ...Array<string>(zeros).fill("0"), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) throw fail();
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * The wire form of a name in presentation form (`\DDD`, `\.` and `\\` escapes understood; a
 * final dot is optional; `.` or the empty string is the root).
 *
 * @throws {DnsEncodeError} if a label is empty or over 63 octets, or the name over 255.
 */
export function encodeName(name: string): Uint8Array {
  const labels = _parseLabels(name);
  const size = labels.reduce((sum, label) => sum + 1 + label.length, 1);
  for (const label of labels) {
    if (label.length === 0) {
      throw new DnsEncodeError(`Cannot encode the DNS name '${name}': it has an empty label`);
    }
    if (label.length > MAX_LABEL_BYTES) {
      throw new DnsEncodeError(
        `Cannot encode the DNS name '${name}': a label is longer than ${MAX_LABEL_BYTES} octets`,
      );
    }
  }
  if (size > MAX_NAME_BYTES) {
    throw new DnsEncodeError(
      `Cannot encode the DNS name '${name}': it is longer than ${MAX_NAME_BYTES} octets`,
    );
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const label of labels) {
    bytes[offset++] = label.length;
    bytes.set(label, offset);
    offset += label.length;
  }
  return bytes;
}

/** The labels of a name in presentation form, as bytes (UTF-8 for other characters). */
function _parseLabels(name: string): number[][] {
  if (name === "." || name === "") return [];
  const chars = Array.from(name);
  const labels: number[][] = [];
  let label: number[] = [];
  // An unescaped `.` ends a label; a final one ends the name.
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char === ".") {
      labels.push(label);
      label = [];
      if (i === chars.length - 1) return labels;
    } else if (char !== "\\") {
      label.push(...utf8.encode(char));
    } else {
      const digits = /^\d{3}/.exec(chars.slice(i + 1, i + 4).join(""))?.[0];
      const next = chars[i + 1];
      if (digits !== undefined && Number(digits) <= 255) {
        label.push(Number(digits));
        i += 3;
      } else if (next !== undefined) {
        label.push(...utf8.encode(next));
        i++;
      } else {
        throw new DnsEncodeError(`Cannot encode the DNS name '${name}': it ends with '\\'`);
      }
    }
  }
  labels.push(label);
  return labels;
}

/** Decodes the fixed header of a message (the client checks id and TC before the rest). */
export function decodeHeader(bytes: Uint8Array): DnsHeaderDecode {
  if (bytes.length < HEADER_BYTES) {
    return { ok: false, reason: `truncated header (${bytes.length} of 12 bytes)` };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint16(2);
  return {
    ok: true,
    header: {
      id: view.getUint16(0),
      qr: (flags & 0x8000) !== 0,
      tc: (flags & 0x0200) !== 0,
      rd: (flags & 0x0100) !== 0,
      rcode: flags & 0xf,
    },
  };
}

/** Thrown inside the decoder only, turned into `{ ok: false }` at its edge. */
class _Malformed extends Error {}

/**
 * Decodes a whole message. Never throws: a message that is cut short, whose counts promise more
 * than it holds, whose record data does not fit its type or whose names use forward or looping
 * compression pointers is `{ ok: false, reason }`. Bytes after the last counted record are
 * ignored.
 */
export function decodeMessage(bytes: Uint8Array): DnsDecode {
  const header = decodeHeader(bytes);
  if (!header.ok) return header;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const counts = [4, 6, 8, 10].map((offset) => view.getUint16(offset)) as [
    number,
    number,
    number,
    number,
  ];
  try {
    const reader = { offset: HEADER_BYTES };
    const questions: DnsQuestion[] = [];
    for (let i = 0; i < counts[0]; i++) {
      const name = _readName(bytes, reader);
      _need(bytes, reader.offset, 4, "question");
      questions.push({ name, type: view.getUint16(reader.offset) });
      reader.offset += 4;
    }
    const section = (count: number) => {
      const records: DnsRecord[] = [];
      for (let i = 0; i < count; i++) records.push(_readRecord(bytes, view, reader));
      return records;
    };
    const answers = section(counts[1]);
    section(counts[2]);
    const additional = section(counts[3]);
    return { ok: true, message: { ...header.header, questions, answers, additional } };
  } catch (error) {
    if (error instanceof _Malformed) return { ok: false, reason: error.message };
    // Only a bug can get here; still an answer, never a crash of the source.
    return { ok: false, reason: `undecodable message: ${String(error)}` };
  }
}

function _need(bytes: Uint8Array, offset: number, length: number, what: string): void {
  if (offset + length > bytes.length) {
    throw new _Malformed(`truncated ${what} at byte ${offset}`);
  }
}

function _readRecord(bytes: Uint8Array, view: DataView, reader: { offset: number }): DnsRecord {
  const name = _readName(bytes, reader);
  _need(bytes, reader.offset, 10, "record");
  const code = view.getUint16(reader.offset);
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  const raw = view.getUint32(reader.offset + 4);
  const ttl = raw > 0x7fffffff ? 0 : raw;
  const length = view.getUint16(reader.offset + 8);
  const start = reader.offset + 10;
  _need(bytes, start, length, "record data");
  const end = start + length;
  reader.offset = end;
  switch (code) {
    case TYPE_CODE.A:
      if (length !== 4) throw new _Malformed(`A record data of ${length} bytes, not 4`);
      return { type: "A", name, ttl, address: bytes.subarray(start, end).join(".") };
    case TYPE_CODE.AAAA:
      if (length !== 16) throw new _Malformed(`AAAA record data of ${length} bytes, not 16`);
      return { type: "AAAA", name, ttl, address: formatIPv6(bytes.subarray(start, end)) };
    case TYPE_CODE.CNAME: {
      const at = { offset: start };
      const target = _readName(bytes, at, end);
      if (at.offset !== end) throw new _Malformed("CNAME record data longer than its name");
      return { type: "CNAME", name, ttl, target };
    }
    case TYPE_CODE.SRV: {
      if (length < 7) throw new _Malformed(`SRV record data of ${length} bytes, under 7`);
      const at = { offset: start + 6 };
      const target = _readName(bytes, at, end);
      if (at.offset !== end) throw new _Malformed("SRV record data longer than its target");
      return {
        type: "SRV",
        name,
        ttl,
        priority: view.getUint16(start),
        weight: view.getUint16(start + 2),
        port: view.getUint16(start + 4),
        target,
      };
    }
    default:
      return { type: "OTHER", name, ttl, code, data: bytes.slice(start, end) };
  }
}

/**
 * Reads a possibly compressed name at `reader.offset` and moves it past the name's bytes in
 * place (a pointer counts 2). The uncompressed part must end by `limit` (the record data's end
 * for a name inside record data). Each pointer must point before the start of the labels read
 * since the last jump (as a compressor writes them), so reading only moves backwards and
 * cannot loop; MAX_POINTERS bounds the work anyway.
 */
function _readName(bytes: Uint8Array, reader: { offset: number }, limit = bytes.length): string {
  const labels: string[] = [];
  let offset = reader.offset;
  let end = limit;
  let lowest = reader.offset;
  let resume: number | undefined;
  let wireBytes = 1;
  let pointers = 0;
  // Follow labels until the root label; a pointer jumps to an earlier offset.
  while (true) {
    if (offset >= end) throw new _Malformed(`truncated name at byte ${offset}`);
    const length = bytes[offset]!;
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= end) {
        throw new _Malformed(`truncated compression pointer at byte ${offset}`);
      }
      const target = ((length & 0x3f) << 8) | bytes[offset + 1]!;
      if (target >= lowest) {
        throw new _Malformed(`compression pointer at byte ${offset} does not point backwards`);
      }
      lowest = target;
      if (++pointers > MAX_POINTERS) throw new _Malformed("too many compression pointers");
      resume ??= offset + 2;
      offset = target;
      // The pointed-to name may lie anywhere before: bounded by the message, not the record.
      end = bytes.length;
      continue;
    }
    if ((length & 0xc0) !== 0) {
      throw new _Malformed(`unknown label type 0x${length.toString(16)} at byte ${offset}`);
    }
    if (length === 0) {
      offset += 1;
      break;
    }
    if (offset + 1 + length > end) throw new _Malformed(`truncated label at byte ${offset}`);
    wireBytes += 1 + length;
    if (wireBytes > MAX_NAME_BYTES) {
      throw new _Malformed(`name longer than ${MAX_NAME_BYTES} octets`);
    }
    labels.push(_labelText(bytes.subarray(offset + 1, offset + 1 + length)));
    offset += 1 + length;
  }
  reader.offset = resume ?? offset;
  return labels.length === 0 ? "." : labels.join(".");
}

/** A label in presentation form: printable ASCII as is, `.` and `\` escaped, the rest `\DDD`. */
function _labelText(label: Uint8Array): string {
  let text = "";
  for (const byte of label) {
    if (byte === 0x2e || byte === 0x5c) text += "\\" + String.fromCharCode(byte);
    else if (byte > 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += "\\" + byte.toString().padStart(3, "0");
  }
  return text;
}

/** An IPv6 address in RFC 5952 form: lower case, no leading zeros, longest zero run as `::`. */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run of two or more zero groups (the first of equal runs) becomes `::`.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Whether two names are the same name: ASCII case-insensitive (RFC 4343), final dot or not. */
export function sameName(a: string, b: string): boolean {
  return relativeName(a).toLowerCase() === relativeName(b).toLowerCase();
}

/** `name` without its final dot (`kafka.test.` → `kafka.test`); the root stays `.`. */
export function relativeName(name: string): string {
  if (name === "." || !name.endsWith(".")) return name;
  // A final `\.` is an escaped dot inside the last label unless the backslash is escaped too.
  const backslashes = /\\*$/.exec(name.slice(0, -1))?.[0].length ?? 0;
  return backslashes % 2 === 1 ? name : name.slice(0, -1);
}
