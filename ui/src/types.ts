// Shapes of what the factorline HTTP API sends and accepts (see factorline/serve/__init__.py).

// The catalogue replies (GET /api/schema, GET /api/operators) are generated from the server's
// response models: scripts/gen_ui_types.py writes api.gen.ts; no hand copies here.
export type { JsonSchema } from "./jsonSchema";
export type {
  DocumentSchemas,
  EditorSchema,
  FieldSchema,
  InputSchema,
  KindRules,
  NamePatterns,
  OperatorOutput,
  OperatorSchema,
  RuleFunctionHelp,
  RuleLanguage,
  RuleLimits,
} from "./api.gen";

export interface StepDoc {
  op: string;
  params?: Record<string, unknown>;
  inputs?: Record<string, string>;
  [other: string]: unknown;
}

export interface RuleDoc {
  id: string;
  when?: string | null;
  default?: boolean;
  outcome: string;
  reason?: string;
  priority?: number | null;
  [other: string]: unknown;
}

export type HitPolicy = "first" | "collect" | "priority";

export interface DecisionTableDoc {
  description?: string;
  policy?: HitPolicy;
  on_missing?: string;
  on_error?: string;
  rules?: RuleDoc[];
  cases?: unknown[];
  [other: string]: unknown;
}

export interface Point {
  x: number;
  y: number;
}

/** The editor's node positions (``layout:``); the engine ignores them. */
export interface LayoutDoc {
  steps?: Record<string, Point>;
  tables?: Record<string, Point>;
  [other: string]: unknown;
}

export interface PipelineDocument {
  name: string;
  description?: string;
  input?: "video" | "image";
  sampling?: Record<string, number>;
  steps: Record<string, StepDoc>;
  decisions?: Record<string, DecisionTableDoc>;
  layout?: LayoutDoc;
  [other: string]: unknown;
}

/** A compile problem: ``path`` names the document part, e.g. steps.border.params.threshold. */
export interface Issue {
  path: string;
  message: string;
  code: string;
}

export interface ValidateReply {
  ok: boolean;
  issues: Issue[];
  fingerprint: string | null;
  document: PipelineDocument | null;
}

export interface PipelineSummary {
  name: string;
  description: string;
  fingerprint: string;
  input: string;
  steps: { name: string; op: string; group: string }[];
  decisions: string[];
}

export interface SampleFile {
  path: string;
  kind: "video" | "image";
  size: number;
}

export interface SaveReply {
  ok: boolean;
  name: string;
  fingerprint: string;
  file: string | null;
}

export interface Evidence {
  t?: number;
  box?: number[];
  text?: string;
  score?: number;
}

export interface Decision {
  outcome: string;
  rule: string;
  reason?: string;
  explanation?: string;
  hits?: { rule: string; values: Record<string, unknown>; evidence: Evidence[] }[];
  outcomes?: string[];
  missing?: string[];
}

export interface Shot {
  t: number;
  image: string | null; // data:image/jpeg URI
  notes: string[];
}

/** The result record of one item (+ thumbnails when asked for). */
export interface RunRecord {
  item: {
    id?: string;
    path: string;
    kind?: string;
    duration_s?: number;
    width?: number;
    height?: number;
    fps?: number;
  };
  factors: Record<string, Record<string, unknown>>;
  decisions: Record<string, Decision>;
  error: { type: string; message: string; path?: string | null } | null;
  pipeline: { name: string; fingerprint: string };
  timings_ms: Record<string, number>;
  thumbnails?: { shots: Shot[]; note: string };
}

/** What a save would write (POST /api/pipelines/{name}/preview-save). */
export interface SavePreview {
  ok: boolean;
  file: string;
  exists: boolean;
  changed: boolean;
  diff: string;
  /** The save rewrites a file the editor did not create: show the diff and ask first. */
  confirm: boolean;
}

export interface HistoryVersion {
  version: string;
  saved_at: string;
  origin: "file" | "created" | "editor" | "restore";
  bytes: number;
  current: boolean;
}

export interface HistoryListing {
  file: string;
  versions: HistoryVersion[];
}

export interface HistoryVersionText extends HistoryVersion {
  text: string;
  diff: string;
}

export interface RestoreReply extends SaveReply {
  document: PipelineDocument;
}

/** A run folder under the server's runs root (GET /api/runs). */
export interface RunFolder {
  name: string;
  pipeline: string | null;
  status: string | null;
  items: number | null;
  finished_at: string | null;
  problem?: string | null;
}

/** One rule's count over a run (POST /api/rule-counts); ``error``: why it cannot be counted. */
export interface RuleCount {
  index: number;
  id: string | null;
  default: boolean;
  decides: number | null;
  matches: number | null;
  missing: number | null;
  error: string | null;
  note: string | null;
}

export interface TableCounts {
  rules: RuleCount[];
  on_missing: number | null;
  on_error: number | null;
  decides_error: string | null;
}

export interface RuleCountsReply {
  run: { name: string; pipeline: string | null; items: number; failed: number };
  tables: Record<string, TableCounts>;
}
