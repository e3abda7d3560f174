// Light, dark, or follow the system. Stored locally; applied as data-theme on <html>.
export type ThemeChoice = "system" | "light" | "dark";

const KEY = "assent.theme";

export function loadTheme(): ThemeChoice {
  const stored = localStorage.getItem(KEY);
  return stored === "light" || stored === "dark" ? stored : "system";
}

export function applyTheme(choice: ThemeChoice): void {
  localStorage.setItem(KEY, choice);
  if (choice === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", choice);
}
