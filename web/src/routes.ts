// Hash routes (`#/guests/web-01/edit`): no router library, the hash is the whole state of the URL.

export type Route =
  | { view: "overview" }
  | { view: "login" }
  | { view: "guest"; guest: string }
  | { view: "edit"; guest: string }
  | { view: "plan" }
  | { view: "history" }
  | { view: "checks" }
  | { view: "not-found"; path: string };

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/^\/?/, "/");
  const parts = path
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts.length === 0) return { view: "overview" };
  const [head, name, tail] = parts;
  if (parts.length === 1 && ["login", "plan", "history", "checks"].includes(head)) {
    return { view: head as "login" | "plan" | "history" | "checks" };
  }
  if (head === "guests" && name !== undefined) {
    if (parts.length === 2) return { view: "guest", guest: name };
    if (parts.length === 3 && tail === "edit") return { view: "edit", guest: name };
  }
  return { view: "not-found", path };
}

export function hrefFor(route: Route): string {
  switch (route.view) {
    case "overview":
      return "#/";
    case "guest":
      return `#/guests/${encodeURIComponent(route.guest)}`;
    case "edit":
      return `#/guests/${encodeURIComponent(route.guest)}/edit`;
    case "not-found":
      return `#${route.path}`;
    default:
      return `#/${route.view}`;
  }
}

export function navigate(route: Route): void {
  const target = hrefFor(route);
  if (location.hash !== target) location.hash = target;
}
