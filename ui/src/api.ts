// The editor's only way to the server: the factorline HTTP API, same origin, relative URLs
// (so the editor also works when the server sits behind a path prefix).

import type {
  EditorSchema,
  HistoryListing,
  HistoryVersionText,
  Issue,
  OperatorSchema,
  PipelineDocument,
  PipelineSummary,
  RestoreReply,
  RuleCountsReply,
  RunFolder,
  RunRecord,
  SampleFile,
  SavePreview,
  SaveReply,
  ValidateReply,
} from "./types";
import { parseJson, toJson } from "./json";

const TOKEN_KEY = "factorline.token";

/** The bearer token lives in sessionStorage: gone when the tab closes, never in a URL. */
export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token then lasts only until reload
  }
}

/** An error answer of the API: ``{"error": {type, message, path, issues?}}``. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly path: string | null;
  readonly issues: Issue[];

  constructor(status: number, type: string, message: string, path: string | null, issues: Issue[]) {
    super(message);
    this.status = status;
    this.type = type;
    this.path = path;
    this.issues = issues;
  }

  get needsToken(): boolean {
    return this.status === 401;
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body; // the browser sets the multipart boundary
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = toJson(body);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (exc) {
    throw new ApiError(0, "NetworkError", `the server cannot be reached (${String(exc)})`, null, []);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? parseJson(text) : null;
  } catch {
    // a proxy's HTML error page: reported below with the status
  }
  if (!response.ok) {
    const err = (data as { error?: { type?: string; message?: string; path?: string | null; issues?: Issue[] } } | null)?.error;
    throw new ApiError(
      response.status,
      err?.type ?? `HTTP ${response.status}`,
      err?.message ?? (text.slice(0, 200) || response.statusText),
      err?.path ?? null,
      err?.issues ?? [],
    );
  }
  return data as T;
}

const enc = encodeURIComponent;

export const api = {
  operators: () => request<OperatorSchema[]>("GET", "api/operators"),
  samples: () => request<SampleFile[]>("GET", "api/samples"),
  pipelines: () => request<PipelineSummary[]>("GET", "api/pipelines"),
  pipeline: (name: string) => request<PipelineDocument>("GET", `api/pipelines/${enc(name)}`),
  validate: (body: PipelineDocument | { text: string }) => request<ValidateReply>("POST", "api/validate", body),
  schema: () => request<EditorSchema>("GET", "api/schema"),
  save: (name: string, doc: PipelineDocument) => request<SaveReply>("PUT", `api/pipelines/${enc(name)}`, doc),
  previewSave: (name: string, doc: PipelineDocument) => request<SavePreview>("POST", `api/pipelines/${enc(name)}/preview-save`, doc),
  history: (name: string) => request<HistoryListing>("GET", `api/pipelines/${enc(name)}/history`),
  historyVersion: (name: string, version: string) =>
    request<HistoryVersionText>("GET", `api/pipelines/${enc(name)}/history/${enc(version)}`),
  restore: (name: string, version: string) =>
    request<RestoreReply>("POST", `api/pipelines/${enc(name)}/history/${enc(version)}/restore`),
  runs: () => request<RunFolder[]>("GET", "api/runs"),
  ruleCounts: (document: PipelineDocument, run: string) => request<RuleCountsReply>("POST", "api/rule-counts", { document, run }),
  runPath: (name: string, path: string) =>
    request<RunRecord>("POST", `api/pipelines/${enc(name)}/run-path?thumbnails=true`, { path }),
  runUpload: (name: string, file: File) => {
    const form = new FormData();
    form.append("file", file, file.name);
    return request<RunRecord>("POST", `api/pipelines/${enc(name)}/run?thumbnails=true`, form);
  },
};
