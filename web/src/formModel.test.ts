import { describe, expect, it } from "vitest";
import { changedFields, draftOf, type Draft } from "./formModel";

const fields = {
  memory: "2G",
  cores: 2,
  started: true,
  tags: ["prod", "web"],
  description: "Web server",
  disks: [{ slot: "scsi0", size: "32G", storage: "local-lvm" }],
};
const editable = Object.keys(fields);

function drafts(): Record<string, Draft> {
  return Object.fromEntries(editable.map((f) => [f, draftOf(f, (fields as Record<string, unknown>)[f])]));
}

describe("the editor's form model", () => {
  it("sends nothing when nothing changed", () => {
    expect(changedFields(editable, fields, drafts())).toEqual({ fields: {}, errors: {} });
  });

  it("sends only the changed fields, typed like the loaded values", () => {
    const d = drafts();
    d.memory = { kind: "text", value: "4G", multiline: false };
    d.cores = { kind: "number", value: "4" };
    d.tags = { kind: "list", value: "prod, web, x" };
    expect(changedFields(editable, fields, d).fields).toEqual({ memory: "4G", cores: 4, tags: ["prod", "web", "x"] });
  });

  it("does not send an empty input for a field that had no value", () => {
    const d = drafts();
    const withAdd = [...editable, "add-disk", "add-net"];
    d["add-disk"] = draftOf("add-disk", "");
    d["add-net"] = draftOf("add-net", undefined);
    expect(changedFields(withAdd, fields, d).fields).toEqual({});
    d["add-disk"] = { kind: "text", value: "scsi1=local-lvm:10G", multiline: false };
    expect(changedFields(withAdd, fields, d).fields).toEqual({ "add-disk": "scsi1=local-lvm:10G" });
  });

  it("sends text the server must judge as written", () => {
    const d = drafts();
    d.cores = { kind: "number", value: "lots" };
    expect(changedFields(editable, fields, d).fields).toEqual({ cores: "lots" });
  });

  it("edits disks as rows and sends the whole list when one changed", () => {
    const d = drafts();
    expect(d.disks).toEqual({ kind: "disks", rows: [{ slot: "scsi0", size: "32G", storage: "local-lvm" }] });
    d.disks = { kind: "disks", rows: [{ slot: "scsi99", size: "32G", storage: "local-lvm" }] };
    expect(changedFields(editable, fields, d).fields).toEqual({
      disks: [{ slot: "scsi99", size: "32G", storage: "local-lvm" }],
    });
  });

  it("reports JSON it cannot read per field instead of sending it", () => {
    const d = drafts();
    const withObject = { ...fields, cpu: { type: "host" } };
    d.cpu = { kind: "json", value: "{not json" };
    expect(changedFields([...editable, "cpu"], withObject, d)).toEqual({ fields: {}, errors: { cpu: "not valid JSON" } });
  });
});
