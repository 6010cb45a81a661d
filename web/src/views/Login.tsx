// The login view: one API token exchanged for a session cookie (POST /api/v1/session). The token
// stays in the input only; the answer's CSRF token is all the client keeps.

import { useState, type FormEvent } from "react";
import { api } from "../api";
import { ProblemView } from "../ui";

export function Login({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(token.trim());
      setToken("");
      onLoggedIn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card login" aria-labelledby="login-title">
      <h1 id="login-title">Log in</h1>
      <p className="muted">
        Paste an API token made with <code>proxmox-mpc token create NAME --role viewer|operator|admin</code>. It is sent
        once to start a session and not stored in the browser.
      </p>
      <form onSubmit={submit}>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="pmpc_…"
        />
        <button type="submit" className="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <ProblemView error={error} title="Login failed" />
    </section>
  );
}
