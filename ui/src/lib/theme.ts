// Light, dark, or follow the system. The choice is stored locally; the effective theme is always
// written as data-theme on <html> (so the stylesheet has one dark palette), and "system" follows
// the system preference live.
export type ThemeChoice = "system" | "light" | "dark";

const KEY = "assent.theme";
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
let current: ThemeChoice = "system";

export function loadTheme(): ThemeChoice {
  const stored = localStorage.getItem(KEY);
  return stored === "light" || stored === "dark" ? stored : "system";
}

function effective(choice: ThemeChoice): "light" | "dark" {
  if (choice === "system") return systemDark.matches ? "dark" : "light";
  return choice;
}

export function applyTheme(choice: ThemeChoice): void {
  current = choice;
  localStorage.setItem(KEY, choice);
  document.documentElement.setAttribute("data-theme", effective(choice));
}

systemDark.addEventListener("change", () => {
  if (current === "system") document.documentElement.setAttribute("data-theme", effective("system"));
});
