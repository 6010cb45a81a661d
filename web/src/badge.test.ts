import { describe, expect, it } from "vitest";
import { ALL_BADGES, badgeInfo } from "./badge";

describe("badgeInfo", () => {
  it("gives every badge the server sends its own text, symbol and class", () => {
    const infos = ALL_BADGES.map(badgeInfo);
    expect(infos.map((i) => i.badge)).toEqual(["in-sync", "drifted", "pending", "unmanaged"]);
    expect(infos.map((i) => i.label)).toEqual(["in sync", "drifted", "pending", "unmanaged"]);
    expect(new Set(infos.map((i) => i.symbol)).size).toBe(4);
    expect(new Set(infos.map((i) => i.className)).size).toBe(4);
  });

  it("accepts spelling variants and keeps an unknown badge visible as text", () => {
    expect(badgeInfo("IN_SYNC").badge).toBe("in-sync");
    expect(badgeInfo("in sync").badge).toBe("in-sync");
    expect(badgeInfo("Drifted").badge).toBe("drifted");
    const unknown = badgeInfo("orphaned");
    expect(unknown.badge).toBe("unknown");
    expect(unknown.label).toBe("orphaned");
    expect(badgeInfo(null).label).toBe("unknown");
  });
});
