// What the run browser's API answers (factorline/serve/review.py). The shapes come from the
// server's response models (api.gen.ts, generated); here they are only narrowed where the
// models are looser than what the UI relies on (JSON values, decision cells).

import type * as Api from "../api.gen";

export type Value = string | number | boolean | null;

export type RunSummary = Api.RunSummary & { tables: string[]; reviews: boolean };

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

export type GridItem = Omit<Api.GridItem, "decisions" | "values" | "queue"> & {
  decisions: Record<string, { outcome: string | null; rule: string | null }>;
  values: Record<string, Value>;
  queue?: Record<string, Value> | null;
};

export type ItemPage = Omit<Api.ItemPage, "items"> & { items: GridItem[] };

export type Review = Omit<Api.Review, "value" | "was"> & { value: Value; was: Value };

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
