import { describe, expect, it } from "vitest";
import { fieldFor, mapFieldErrors } from "./fieldErrors";

const editable = ["memory", "cores", "disks", "tags"];

describe("mapFieldErrors", () => {
  it("puts each message under its field, nested names under their top field", () => {
    const mapped = mapFieldErrors(
      {
        title: "the definition is not valid",
        detail: "2 fields are wrong",
        errors: [
          { field: "memory", message: "`lots` is not a size (use 512M or 4G)" },
          { field: "disks.scsi99", message: "there is no disk slot scsi99" },
          { field: "disks[0].size", message: "a disk cannot shrink" },
        ],
      },
      editable,
    );
    expect(mapped.byField).toEqual({
      memory: ["`lots` is not a size (use 512M or 4G)"],
      disks: ["there is no disk slot scsi99", "a disk cannot shrink"],
    });
    expect(mapped.general).toEqual([]);
  });

  it("keeps messages for unknown fields and a bare detail as general messages", () => {
    expect(mapFieldErrors({ errors: [{ field: "bios", message: "not editable here" }] }, editable)).toEqual({
      byField: {},
      general: ["bios: not editable here"],
    });
    expect(mapFieldErrors({ title: "Invalid", detail: "the HCL does not parse at line 3" }, editable)).toEqual({
      byField: {},
      general: ["the HCL does not parse at line 3"],
    });
    expect(mapFieldErrors(null, editable)).toEqual({ byField: {}, general: [] });
  });

  it("adds the server's hint and line to the message", () => {
    const mapped = mapFieldErrors(
      { errors: [{ field: "hcl", message: "not valid HCL", line: 3, hint: "close the block" }] },
      ["hcl"],
    );
    expect(mapped.byField).toEqual({ hcl: ["not valid HCL (line 3) Hint: close the block"] });
  });

  it("matches a field name exactly before by prefix", () => {
    expect(fieldFor("cores", editable)).toBe("cores");
    expect(fieldFor("coresx", editable)).toBeNull();
    expect(fieldFor("tags/0", editable)).toBe("tags");
  });
});
