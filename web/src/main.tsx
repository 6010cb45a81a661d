// Entry point: applies the remembered theme before the first paint, logs in with a demo link's
// token if the address carries one, then renders the app.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { api } from "./api";
import { applyTheme, storedTheme } from "./theme";
import "./styles.css";

/**
 * `proxmox-mpc demo` prints a link carrying its token after `#` (the part a browser never sends
 * to a server): log in with it, after taking it out of the address bar and the history.
 */
async function loginFromLink(): Promise<void> {
  const found = /^#token=(pmpc_[0-9a-f]{64})$/.exec(location.hash);
  if (!found) return;
  history.replaceState(null, "", `${location.pathname}#/`);
  try {
    await api.login(found[1]);
  } catch {
    // The login view appears and says what is wrong on the next call.
  }
}

applyTheme(storedTheme());
const root = document.getElementById("root");
if (root) {
  void loginFromLink().finally(() =>
    createRoot(root).render(
      <StrictMode>
        <App />
      </StrictMode>,
    ),
  );
}
