/**
 * The status page's stylesheet and the Content-Security-Policy that admits exactly it. The page carries no
 * script and loads nothing; the policy names the stylesheet by its hash rather than allowing any inline
 * style, so markup injected through an unescaped value (there should be none) could not restyle the page.
 */
import { createHash } from 'node:crypto';

/** The inline stylesheet of the status page. */
export const STATUS_PAGE_CSS = `
:root { color-scheme: light dark; --fg: #1d2127; --muted: #5f6b7a; --bg: #f6f7f9; --card: #fff; --line: #dde1e6;
  --good: #1a7f37; --good-bg: #dafbe1; --warn: #8a5300; --warn-bg: #fff1c2; --bad: #b42318; --bad-bg: #fde2df;
  --info: #0b5cad; --info-bg: #ddeeff; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa4b1; --bg: #15181c; --card: #1d2126;
  --line: #30363d; --good: #56d364; --good-bg: #12361d; --warn: #e3b341; --warn-bg: #3b2e0b; --bad: #ff7b72;
  --bad-bg: #47140f; --info: #79c0ff; --info-bg: #0c2d4f; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: baseline; padding: 1rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { margin: 0; font-size: 1.3rem; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 2rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 0 0 .5rem; }
h4 { font-size: .85rem; margin: .75rem 0 .25rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
section, article { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; margin-bottom: 1rem; }
section > h2:first-child { margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; background: var(--line); }
.good { color: var(--good); background: var(--good-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.info { color: var(--info); background: var(--info-bg); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .5rem; margin-bottom: .5rem; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; }
.figure .label { display: block; font-size: .75rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.figure .value { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure.warn, .figure.bad { border-color: currentColor; }
.alert { border-radius: 6px; padding: .4rem .6rem; margin-bottom: .5rem; overflow-wrap: anywhere; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 0 1.5rem; }
footer { text-align: center; color: var(--muted); font-size: .8rem; padding-bottom: 1.5rem; }
`;

/** The page's Content-Security-Policy: nothing may load, run or be framed; only the stylesheet above applies. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STATUS_PAGE_CSS).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
