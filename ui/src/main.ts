import "./app.css";
import { mount } from "svelte";
import App from "./App.svelte";
import { applyTheme, loadTheme } from "./lib/theme";

// Before the first paint, so a dark system never flashes the light palette.
applyTheme(loadTheme());

const target = document.getElementById("app");
if (!target) throw new Error("index.html must contain #app");
export default mount(App, { target });
