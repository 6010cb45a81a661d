// The dashboard's shell: the header (navigation, environment switcher, who is logged in, theme,
// logout), the hash route's view, and the session handling: any 401 from the API shows the
// login view and returns to where the user was once logged in.

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, unwrap } from "./api";
import { navigate, parseHash, type Route } from "./routes";
import { chooseTheme, effectiveTheme, storedTheme, type Theme } from "./theme";
import { ProblemView } from "./ui";
import { Checks } from "./views/Checks";
import { Editor } from "./views/Editor";
import { GuestDetail } from "./views/GuestDetail";
import { History } from "./views/History";
import { Login } from "./views/Login";
import { Overview } from "./views/Overview";
import { PlanReview } from "./views/PlanReview";

export interface WhoAmI {
  actor: string;
  role: string;
  environment: string | null;
  may?: { read?: boolean; edit_files?: boolean; change_cluster?: boolean; administer?: boolean };
}

/**
 * What the user may do: nothing while /whoami has not answered (null); everything when the
 * server has no /whoami ("unknown"), leaving the refusal to the server.
 */
export function mayDo(whoami: WhoAmI | "unknown" | null, what: "edit_files" | "change_cluster"): boolean {
  if (whoami === "unknown") return true;
  if (!whoami) return false;
  if (whoami.may && typeof whoami.may[what] === "boolean") return whoami.may[what] as boolean;
  return whoami.role !== "viewer";
}

interface EnvList {
  active?: string;
  environments?: { name: string; active?: boolean; protected?: boolean }[];
}

function EnvSwitcher({ whoami, onChange }: { whoami: WhoAmI | null; onChange: () => void }) {
  const [envs, setEnvs] = useState<EnvList | null>(null);
  const [chosen, setChosen] = useState<string | null>(api.environment());
  useEffect(() => {
    let live = true;
    // `/env list` for any role (the env operation as a whole is an admin's).
    const load = async (): Promise<EnvList> => unwrap<EnvList>(await api.get("/environments"));
    load().then(
      (d) => live && setEnvs(d),
      () => live && setEnvs(null),
    );
    return () => {
      live = false;
    };
  }, [whoami]);
  const names = envs?.environments?.map((e) => e.name) ?? [];
  const current = chosen ?? whoami?.environment ?? envs?.active ?? null;
  if (names.length < 2) {
    if (!current) return null;
    return (
      <span className="env-name" data-environment={current}>
        env <strong>{current}</strong>
        {chosen ? (
          // A remembered choice the list cannot confirm (not an admin, or it was removed): let
          // the user go back to the workspace's own environment.
          <button
            type="button"
            className="link-button"
            aria-label={`Stop using environment ${chosen}`}
            onClick={() => {
              api.setEnvironment(null);
              setChosen(null);
              onChange();
            }}
          >
            ×
          </button>
        ) : null}
      </span>
    );
  }
  return (
    <label className="env-switch">
      <span>Environment</span>
      <select
        value={current ?? ""}
        onChange={(e) => {
          const name = e.target.value || null;
          api.setEnvironment(name);
          setChosen(name);
          onChange();
        }}
      >
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
            {envs?.environments?.find((e) => e.name === n)?.protected ? " (protected)" : ""}
          </option>
        ))}
      </select>
    </label>
  );
}

const NAV: { label: string; route: Route; match: Route["view"][] }[] = [
  { label: "Overview", route: { view: "overview" }, match: ["overview", "guest", "edit"] },
  { label: "Plan", route: { view: "plan" }, match: ["plan"] },
  { label: "History", route: { view: "history" }, match: ["history"] },
  { label: "Tests and policy", route: { view: "checks" }, match: ["checks"] },
];

export function App() {
  const [route, setRoute] = useState<Route>(() => parseHash(location.hash));
  const [whoami, setWhoami] = useState<WhoAmI | null>(null);
  const [whoamiAbsent, setWhoamiAbsent] = useState(false);
  const [loggedIn, setLoggedIn] = useState<boolean | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const [returnTo, setReturnTo] = useState<string>("#/");
  const [theme, setTheme] = useState<Theme>(() => effectiveTheme());
  const [logoutError, setLogoutError] = useState<unknown>(null);

  useEffect(() => {
    // Follow the system's theme while the user has not chosen one.
    if (typeof matchMedia !== "function") return;
    const query = matchMedia("(prefers-color-scheme: dark)");
    const onChange = () => {
      if (!storedTheme()) setTheme(effectiveTheme());
    };
    query.addEventListener("change", onChange);
    return () => query.removeEventListener("change", onChange);
  }, []);

  useEffect(() => {
    const onHash = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    api.onUnauthorized = () => {
      setLoggedIn(false);
      setWhoami(null);
      if (!location.hash.startsWith("#/login")) {
        setReturnTo(location.hash || "#/");
        navigate({ view: "login" });
      }
    };
  }, []);

  const loadWhoami = useCallback(() => {
    api.get<WhoAmI>("/whoami").then(
      (w) => {
        setWhoami(w);
        setLoggedIn(true);
      },
      (err) => {
        // 404: a server without /whoami; the views find out about the session themselves.
        if (err instanceof ApiError && err.status === 404) setWhoamiAbsent(true);
        if (!(err instanceof ApiError && err.status === 401)) setLoggedIn(true);
      },
    );
  }, []);

  useEffect(loadWhoami, [loadWhoami]);

  const onLoggedIn = () => {
    setLoggedIn(true);
    loadWhoami();
    setRefreshKey((k) => k + 1);
    location.hash = returnTo && !returnTo.startsWith("#/login") ? returnTo : "#/";
  };

  const logout = async () => {
    setLogoutError(null);
    try {
      await api.logout();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) setLogoutError(err);
    }
    setWhoami(null);
    setLoggedIn(false);
    setReturnTo("#/");
    navigate({ view: "login" });
  };

  const toggleTheme = () => {
    const next: Theme = theme === "dark" ? "light" : "dark";
    chooseTheme(next);
    setTheme(next);
  };

  const who = whoamiAbsent ? "unknown" : whoami;
  let view;
  // Not logged in: the login view whatever the route, so no view asks the API in the meantime.
  if (route.view === "login" || loggedIn === false) view = <Login onLoggedIn={onLoggedIn} />;
  else if (loggedIn === null) view = null;
  else {
    switch (route.view) {
      case "overview":
        view = <Overview refreshKey={refreshKey} />;
        break;
      case "guest":
        view = <GuestDetail key={route.guest} name={route.guest} refreshKey={refreshKey} mayEdit={mayDo(who, "edit_files")} />;
        break;
      case "edit":
        view = <Editor key={`${route.guest}-${refreshKey}`} name={route.guest} />;
        break;
      case "plan":
        view = <PlanReview mayApply={mayDo(who, "change_cluster")} role={whoami?.role ?? null} refreshKey={refreshKey} />;
        break;
      case "history":
        view = <History refreshKey={refreshKey} />;
        break;
      case "checks":
        view = <Checks key={refreshKey} />;
        break;
      default:
        view = <ProblemView error={{ title: "No such page", detail: `#${route.path}`, hint: "the overview lists every guest" }} />;
    }
  }

  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href="#/">
          proxmox-mpc
        </a>
        {loggedIn ? (
          <nav aria-label="Main">
            <ul>
              {NAV.map((n) => (
                <li key={n.label}>
                  <a href={n.route.view === "overview" ? "#/" : `#/${n.route.view}`} aria-current={n.match.includes(route.view) ? "page" : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        ) : null}
        <div className="header-tools">
          {loggedIn ? <EnvSwitcher whoami={whoami} onChange={() => setRefreshKey((k) => k + 1)} /> : null}
          {whoami ? (
            <span className="who" data-role={whoami.role}>
              {whoami.actor} <span className="muted">({whoami.role})</span>
            </span>
          ) : null}
          <button type="button" onClick={toggleTheme} aria-label={`Switch to the ${theme === "dark" ? "light" : "dark"} theme`}>
            {theme === "dark" ? "☀ Light" : "☾ Dark"}
          </button>
          {loggedIn && route.view !== "login" ? (
            <button type="button" onClick={() => void logout()}>
              Log out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ProblemView error={logoutError} title="Logout" />
        {view}
      </main>
    </>
  );
}
