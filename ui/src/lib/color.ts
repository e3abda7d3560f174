// Accent colours come from relying parties. The Rust side passes only `#rrggbb`; this checks
// again before a value becomes CSS, so no other value (`red; background: url(...)`, `var(--x)`)
// can ever reach a style.
const RRGGBB = /^#[0-9a-fA-F]{6}$/;

/** The accent colour as CSS: the relying party's when it is exactly `#rrggbb`, else the app's own. */
export function accent(color: string | null | undefined): string {
  return color && RRGGBB.test(color) ? color : "var(--primary)";
}

/** The backgrounds an accent is drawn on: each theme's card surface (lib/theme.ts, app.css). */
export const SURFACES = { light: "#ffffff", dark: "#1a1d24" } as const;

function channels(color: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16)) as [number, number, number];
}

function hex(rgb: number[]): string {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

/** WCAG relative luminance of `#rrggbb`. */
export function luminance(color: string): number {
  const [r, g, b] = channels(color).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio between two `#rrggbb` colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * The relying party's colour made visible on a theme's surface (WCAG 1.4.11: 3:1 for a graphic
 * that carries meaning): kept as given when it already contrasts, else mixed step by step toward
 * white (dark theme) or black (light theme) until it does. Same `#rrggbb` checks as `accent`:
 * anything else answers null (the caller then uses the app's own colour).
 */
export function readableAccent(color: string | null | undefined, theme: "light" | "dark"): string | null {
  if (!color || !RRGGBB.test(color)) return null;
  const surface = SURFACES[theme];
  const target = theme === "dark" ? 255 : 0;
  const rgb = channels(color);
  for (let step = 0; step <= 20; step++) {
    const t = step / 20;
    const mixed = hex(rgb.map((c) => c + (target - c) * t));
    if (contrast(mixed, surface) >= 3) return mixed.toLowerCase();
  }
  return theme === "dark" ? "#ffffff" : "#000000";
}

/**
 * An accent in both themes; a component sets them as `--accent-l` / `--accent-d` (with `style:`
 * directives, which the shipped CSP allows) and app.css picks the one for the theme in effect
 * (class `accented`), so no component has to follow the theme.
 */
export function accentPair(color: string | null | undefined): { light: string; dark: string } {
  return {
    light: readableAccent(color, "light") ?? "var(--primary)",
    dark: readableAccent(color, "dark") ?? "var(--primary)",
  };
}

/** Black or white, whichever reads better on `background` (`#rrggbb`; the app's text otherwise). */
export function textOn(background: string): string {
  return contrast(background, "#000000") >= contrast(background, "#ffffff") ? "#000000" : "#ffffff";
}
