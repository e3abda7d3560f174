// Accent colours come from relying parties. The Rust side passes only `#rrggbb`; this checks
// again before a value becomes CSS, so no other value (`red; background: url(...)`, `var(--x)`)
// can ever reach a style.
const RRGGBB = /^#[0-9a-fA-F]{6}$/;

/** The accent colour as CSS: the relying party's when it is exactly `#rrggbb`, else the app's own. */
export function accent(color: string | null | undefined): string {
  return color && RRGGBB.test(color) ? color : "var(--primary)";
}
