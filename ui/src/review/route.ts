// The run browser lives in the URL's hash, so a filter, a sort, a queue or an item is a link:
//   #/runs                                   the runs under --runs
//   #/runs/<run>?filter=...&sort=...&offset=  the grid (filters saved in the URL)
//   #/runs/<run>/items/<index>?filter=...     one item, with the grid's list around it (j/k)

import { useEffect, useState } from "react";

export interface Route {
  run: string | null;
  item: number | null;
  params: URLSearchParams;
}

export const GRID_KEYS = ["filter", "sort", "offset", "queue", "pipeline", "field", "band", "table", "outcome", "margin", "seed"];

export function isRunsHash(hash: string): boolean {
  return hash === "#/runs" || hash.startsWith("#/runs/") || hash.startsWith("#/runs?");
}

export function parseHash(hash: string): Route {
  const [path, search = ""] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent); // ["runs", run, "items", index]
  const item = parts[2] === "items" && /^\d+$/.test(parts[3] ?? "") ? Number(parts[3]) : null;
  return { run: parts[1] ?? null, item, params: new URLSearchParams(search) };
}

export function toHash(run: string | null, item: number | null, params: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const key of GRID_KEYS) {
    const value = params.get(key);
    if (value) kept.set(key, value);
  }
  const search = kept.toString();
  const path = run === null ? "#/runs" : `#/runs/${encodeURIComponent(run)}${item === null ? "" : `/items/${item}`}`;
  return search ? `${path}?${search}` : path;
}

export function go(run: string | null, item: number | null, params: URLSearchParams): void {
  window.location.hash = toHash(run, item, params);
}

export function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return hash;
}
