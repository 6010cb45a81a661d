// What each guest badge means and how it looks: text, a symbol and a colour class, so the state
// never depends on colour alone.

export type Badge = "in-sync" | "drifted" | "pending" | "unmanaged";

export interface BadgeInfo {
  badge: Badge | "unknown";
  label: string;
  symbol: string;
  className: string;
  description: string;
}

const BADGES: Record<Badge, Omit<BadgeInfo, "badge">> = {
  "in-sync": {
    label: "in sync",
    symbol: "✓",
    className: "badge badge-ok",
    description: "the cluster matches the file",
  },
  drifted: {
    label: "drifted",
    symbol: "!",
    className: "badge badge-drift",
    description: "the cluster changed since the file was written",
  },
  pending: {
    label: "pending",
    symbol: "~",
    className: "badge badge-pending",
    description: "the file has changes not applied yet",
  },
  unmanaged: {
    label: "unmanaged",
    symbol: "?",
    className: "badge badge-unmanaged",
    description: "no file describes this guest",
  },
};

export function badgeInfo(badge: string | null | undefined): BadgeInfo {
  const key = (badge ?? "").toLowerCase().replace(/[_ ]/g, "-");
  const normalised = key === "insync" || key === "synced" ? "in-sync" : key;
  if (normalised in BADGES) {
    const b = normalised as Badge;
    return { badge: b, ...BADGES[b] };
  }
  return {
    badge: "unknown",
    label: badge ? String(badge) : "unknown",
    symbol: "·",
    className: "badge badge-unknown",
    description: "the server sent a state this dashboard does not know",
  };
}

export const ALL_BADGES: Badge[] = ["in-sync", "drifted", "pending", "unmanaged"];
