// The run browser's calls: same origin, relative URLs, the editor's token and error shape.

import { ApiError, getToken } from "../api";
import type { ItemDetail, ItemPage, Review, ReviewBody, RunDetail, RunSummary } from "./types";

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, "NetworkError", `the server cannot be reached (${String(exc)})`, null, []);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below with the status
  }
  if (!response.ok) {
    const err = (data as { error?: { type?: string; message?: string; path?: string | null } } | null)?.error;
    throw new ApiError(response.status, err?.type ?? `HTTP ${response.status}`, err?.message ?? text.slice(0, 200), err?.path ?? null, []);
  }
  return data as T;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

export const reviewApi = {
  runs: () => call<RunSummary[]>("GET", "api/runs"),
  run: (run: string) => call<RunDetail>("GET", `api/runs/${enc(run)}`),
  items: (run: string, params: Record<string, string | number | undefined>) =>
    call<ItemPage>("GET", `api/runs/${enc(run)}/items${query(params)}`),
  queue: (run: string, name: string, params: Record<string, string | number | undefined>) =>
    call<ItemPage>("GET", `api/runs/${enc(run)}/queues/${enc(name)}${query(params)}`),
  item: (run: string, index: number) => call<ItemDetail>("GET", `api/runs/${enc(run)}/items/${index}`),
  review: (run: string, index: number, body: ReviewBody) => call<Review>("POST", `api/runs/${enc(run)}/items/${index}/reviews`, body),
  pipelines: () => call<{ name: string }[]>("GET", "api/pipelines"),
};

export function describeError(exc: unknown): string {
  if (exc instanceof ApiError) {
    if (exc.status === 401) return "this server needs an API token: enter it in the editor's Token field, then come back";
    return `${exc.type}: ${exc.message}${exc.path ? ` (${exc.path})` : ""}`;
  }
  return String(exc);
}
