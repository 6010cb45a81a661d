import { describe, expect, it } from "vitest";
import { hrefFor, parseHash } from "./routes";

describe("hash routes", () => {
  it("parses every view", () => {
    expect(parseHash("")).toEqual({ view: "overview" });
    expect(parseHash("#/")).toEqual({ view: "overview" });
    expect(parseHash("#/login")).toEqual({ view: "login" });
    expect(parseHash("#/guests/web-01")).toEqual({ view: "guest", guest: "web-01" });
    expect(parseHash("#/guests/web%2001/edit")).toEqual({ view: "edit", guest: "web 01" });
    expect(parseHash("#/plan")).toEqual({ view: "plan" });
    expect(parseHash("#/history")).toEqual({ view: "history" });
    expect(parseHash("#/checks")).toEqual({ view: "checks" });
    expect(parseHash("#/guests")).toEqual({ view: "not-found", path: "/guests" });
  });

  it("round-trips through hrefFor", () => {
    for (const hash of ["#/", "#/guests/web-01", "#/guests/a%2Fb/edit", "#/plan"]) {
      expect(hrefFor(parseHash(hash))).toBe(hash);
    }
  });
});
