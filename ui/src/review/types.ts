// What the run browser's API answers (factorline/serve/review.py); kept to the fields shown.

export type Value = string | number | boolean | null;

export interface RunSummary {
  name: string;
  pipeline: string | null;
  status: string | null;
  items: number | null;
  failed: number | null;
  finished_at: string | null;
  tables: string[];
  reviews: boolean;
  problem?: string | null;
}

export interface GridColumn {
  name: string;
  type: "bool" | "int" | "float" | "str";
  group: "row" | "item" | "factor" | "decision";
}

export interface RuleDoc {
  id: string;
  when: string | null;
  outcome: string;
  reason: string | null;
  default: boolean | null;
  fired?: boolean;
}

export interface TableInfo {
  name: string;
  column: string;
  outcomes: string[];
  counts: Record<string, number>;
  rules: RuleDoc[];
  policy: string | null;
}

export interface RunDetail extends RunSummary {
  columns: GridColumn[];
  decision_tables: TableInfo[];
  confidence_fields: string[];
  review_count: number;
}

export interface GridItem {
  index: number;
  id: string | null;
  path: string | null;
  name: string;
  kind: string | null;
  error: string | null;
  decisions: Record<string, { outcome: string | null; rule: string | null }>;
  values: Record<string, Value>;
  reviewed: Record<string, string>;
  thumb_url: string;
  queue?: Record<string, Value> | null;
}

export interface ItemPage {
  items: GridItem[];
  total: number;
  offset: number;
  limit: number;
  queue?: Record<string, unknown> | null;
}

export interface Review {
  review: string;
  time: string;
  index: number;
  table?: string | null;
  factor?: string | null;
  verdict: "confirm" | "override";
  value: Value;
  was: Value;
  rule?: string | null;
  reviewer: string;
  note: string;
}

export interface Decision {
  outcome: string | null;
  rule: string | null;
  reason: string | null;
  explanation: string | null;
  hits: { rule: string; values: Record<string, Value>; evidence: { t?: number }[] }[];
  rules: RuleDoc[];
  outcomes: string[];
}

export interface Track {
  name: string;
  kind: "points" | "spans";
  items: { t?: number; start_s?: number; end_s?: number; text?: string | null }[];
}

export interface Box {
  step: string;
  t: number;
  box: [number, number, number, number];
  text: string | null;
  score: number | null;
}

export interface ItemDetail {
  index: number;
  id: string | null;
  path: string | null;
  name: string;
  total: number;
  record: {
    item: Record<string, Value>;
    factors: Record<string, Record<string, unknown>>;
    error: { type: string; message: string } | null;
  };
  tables: Record<string, Decision>;
  factor_types: Record<string, Record<string, string>>;
  reviews: Review[];
  latest: Record<string, Review>;
  media: { available: boolean; reason: string | null; kind: string | null; video_url: string | null; thumb_url: string | null };
  timeline: {
    duration_s: number | null;
    width: number | null;
    height: number | null;
    tracks: Track[];
    boxes: Box[];
    bars: { step: string; top: number; bottom: number; left: number; right: number }[];
    evidence: { step: string; t: number }[];
  };
}

export interface ReviewBody {
  table?: string;
  factor?: string;
  verdict: "confirm" | "override";
  value?: Value;
  reviewer: string;
  note?: string;
}
