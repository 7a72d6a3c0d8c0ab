/** The examples at the end of each command's `--help`. */

/** Formats examples (command line, then what it does) for commander's `addHelpText('after', …)`. */
export function examples(list: ReadonlyArray<readonly [command: string, what: string]>): string {
  return `\nExamples:\n${list.map(([command, what]) => `  # ${what}\n  $ ${command}\n`).join('')}`;
}
