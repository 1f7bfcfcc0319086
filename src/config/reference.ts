/**
 * The README's configuration reference, as the option table (`options.ts`) says it must read:
 * one row per variable of the seed format, one per key of the structured file. A test holds
 * the README to these rows; {@linkcode renderReference} prints the tables to paste.
 *
 * @module
 */

import {
  defaultOf,
  type Option,
  OPTION_BLOCKS,
  type OptionBlockSpec,
  STRUCTURED_BLOCKS,
} from "./options.ts";

/** One row of a reference table: the option's name, its default and its meaning. */
export interface ReferenceRow {
  /** The variable (`INTERVAL`) or the structured key (`services[].probe.interval`). */
  readonly name: string;
  /** The default in words: a value in backticks, `required`, `none`, or a phrase. */
  readonly default: string;
  /** The option's line of documentation. */
  readonly doc: string;
}

/** The default of an option as the README words it, for one format. */
export function describeDefault(option: Option<unknown>, format: "env" | "structured"): string {
  const text = format === "env" ? option.seedDefaultText ?? option.defaultText : option.defaultText;
  if (text !== undefined) return text;
  const value = defaultOf(option, format);
  if (value === undefined) {
    return option.required ? "required" : option.derive === undefined ? "none" : "computed";
  }
  const shown = option.show === undefined ? value : option.show(value);
  return shown === "" ? "empty" : `\`${shown}\``;
}

/**
 * The rows of the reference of one format: for `env`, every variable (Service variables first);
 * for `structured`, every key (`[]` marks list items): global ones, the blocks of `defaults`,
 * then those of each service.
 */
export function referenceRows(format: "env" | "structured"): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  const add = (block: OptionBlockSpec) => {
    for (const [key, option] of Object.entries(block.options)) {
      const name = format === "env" ? option.env : block.path === "" ? key : `${block.path}.${key}`;
      if (name !== undefined) {
        rows.push({ name, default: describeDefault(option, format), doc: option.doc });
      }
    }
  };
  if (format === "env") {
    OPTION_BLOCKS.forEach(add);
    return rows;
  }
  // The structured file reads top down: global settings, the defaults blocks, then services.
  OPTION_BLOCKS.filter((block) => block.scope === "global").forEach(add);
  for (const [name, doc] of Object.entries(STRUCTURED_BLOCKS)) {
    rows.push({ name, default: "", doc });
  }
  OPTION_BLOCKS.filter((block) => block.scope === "service").forEach(add);
  return rows;
}

/** The Markdown table of one format's reference, as the README carries it (before `deno fmt`). */
export function renderReference(format: "env" | "structured"): string {
  const head = format === "env" ? "variable" : "key";
  const lines = [`| ${head} | default | meaning |`, "| --- | --- | --- |"];
  for (const row of referenceRows(format)) {
    lines.push(`| \`${row.name}\` | ${row.default} | ${row.doc} |`);
  }
  return lines.join("\n");
}
