import { describe, expect, it } from "vitest";
import { formatBytes, formatPercent, niceBytesMax, niceMax, scaleChart } from "./chart";

describe("chart scaling", () => {
  it("rounds the axis maximum up to 1, 2, 2.5 or 5 times a power of ten", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(-3)).toBe(1);
    expect(niceMax(0.7)).toBe(1);
    expect(niceMax(1)).toBe(1);
    expect(niceMax(1.2)).toBe(2);
    expect(niceMax(2.1)).toBe(2.5);
    expect(niceMax(3000)).toBe(5000);
    expect(niceMax(7_000_000)).toBe(10_000_000);
  });

  it("rounds byte axes in binary units", () => {
    expect(niceBytesMax(19_000)).toBe(20 * 1024);
    expect(formatBytes(niceBytesMax(19_000))).toBe("20.0 KiB");
    expect(niceBytesMax(3 * 1024 ** 3)).toBe(5 * 1024 ** 3);
    expect(niceBytesMax(700)).toBe(1000);
    expect(niceBytesMax(0)).toBe(1);
  });

  it("maps the first and last times to the edges and 0 to the bottom, max to the top", () => {
    const c = scaleChart([100, 200, 300], [{ label: "cpu", values: [0, 0.5, 1] }], 300, 100, 1);
    expect(c.max).toBe(1);
    expect(c.lines).toEqual([["0,100 150,50 300,0"]]);
  });

  it("splits a line where values are missing and clamps values beyond the axis", () => {
    const c = scaleChart([0, 1, 2, 3], [{ label: "x", values: [1, null, 3, 9] }], 30, 10, 4);
    expect(c.lines[0]).toEqual(["0,7.5", "20,2.5 30,0"]);
  });

  it("scales several series to a shared nice maximum", () => {
    const c = scaleChart([0, 10], [
      { label: "in", values: [0, 300] },
      { label: "out", values: [150, 0] },
    ], 100, 100);
    expect(c.max).toBe(500);
    expect(c.lines).toEqual([["0,100 100,40"], ["0,70 100,100"]]);
  });

  it("draws a single point in the middle and nothing for no points", () => {
    expect(scaleChart([5], [{ label: "a", values: [2] }], 100, 50).lines).toEqual([["50,0"]]);
    expect(scaleChart([], [{ label: "a", values: [] }], 100, 50).lines).toEqual([[]]);
  });

  it("formats bytes and fractions for the labels", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(2 * 1024 ** 3)).toBe("2.0 GiB");
    expect(formatBytes(1536, "/s")).toBe("1.5 KiB/s");
    expect(formatBytes(null)).toBe("–");
    expect(formatPercent(0.25)).toBe("25%");
    expect(formatPercent(0.034)).toBe("3.4%");
  });
});
