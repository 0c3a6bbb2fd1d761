// The grid's list, loaded a page at a time as it is scrolled (or walked with j/k): only the pages
// reached are fetched, never the whole run. The list is keyed by the URL's list fields (filter,
// sort, queue, offset...): a new key starts the list over, and an answer fetched for another list
// (or another point of this one) is dropped, never appended. A failed page leaves the items
// already loaded in place; `retry` fetches it again.

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { describeError, reviewApi } from "./api";
import type { GridItem, ItemPage } from "./types";

export const PAGE_SIZE = 60;

export interface PagedList {
  /** The list the items belong to (RunBrowser's listKey). */
  key: string;
  /** The list's URL fields, which every page of it is fetched with. */
  params: URLSearchParams;
  /** The position of items[0] in the list (the URL's offset, less the pages loaded above it). */
  start: number;
  items: GridItem[];
  /** Items in the whole list; null until the first page answers. */
  total: number | null;
  queue: Record<string, unknown> | null;
}

export function isDone(list: PagedList): boolean {
  return list.total !== null && list.start + list.items.length >= list.total;
}

/** The loaded items as the page the item view expects (its "n of total" and neighbours). */
export function asPage(list: PagedList): ItemPage | null {
  if (list.total === null) return null;
  return { items: list.items, total: list.total, offset: list.start, limit: PAGE_SIZE, queue: list.queue };
}

function fresh(key: string, params: URLSearchParams): PagedList {
  return { key, params, start: Math.max(0, Number(params.get("offset") ?? 0) || 0), items: [], total: null, queue: null };
}

function fetchPage(run: string, p: URLSearchParams, offset: number, limit: number): Promise<ItemPage> {
  const get = (k: string) => p.get(k) ?? undefined;
  const queue = p.get("queue");
  return queue
    ? reviewApi.queue(run, queue, { offset, limit, pipeline: get("pipeline"), field: get("field"), band: get("band"),
                                    table: get("table"), outcome: get("outcome"), margin: get("margin"), seed: get("seed") })
    : reviewApi.items(run, { filter: p.get("filter") ?? "", sort: p.get("sort") ?? "", offset, limit });
}

export interface Paged {
  /** The list of ``key`` (empty while its first page is on the way). */
  list: PagedList;
  loading: boolean;
  error: string | null;
  /** Fetch and append the next page; resolves to the list after it (null if the list changed). */
  more: () => Promise<PagedList | null>;
  /** Fetch and prepend the page above ``start`` (a list opened at an offset). */
  earlier: () => Promise<PagedList | null>;
  /** Fetch the page that failed again. */
  retry: () => void;
  /** Fetch one item again (after a review: its verdict marks). */
  refresh: (index: number) => Promise<void>;
  /** The latest list of the current key, for handlers called between renders. */
  current: () => PagedList | null;
}

export function usePagedList(run: string, params: URLSearchParams, key: string): Paged {
  const [state, setState] = useState<PagedList>(() => fresh(key, params));
  const [error, setError] = useState<{ key: string; message: string; retry: () => void } | null>(null);
  const [busy, setBusy] = useState(0);
  const latest = useRef(state); // the source of truth; state mirrors it for rendering
  const keyNow = useRef(key);
  const inflight = useRef(new Map<string, Promise<PagedList | null>>());
  const paramsNow = useRef(params);
  useLayoutEffect(() => {
    keyNow.current = key;
    paramsNow.current = params;
  });

  const commit = (next: PagedList) => {
    latest.current = next;
    setState(next);
  };

  /** Fetch [offset, offset + limit) of the list; ``place`` merges the answer if the list still wants it. */
  const load = useCallback(
    (what: string, offset: number, limit: number, place: (now: PagedList, page: ItemPage) => PagedList | null): Promise<PagedList | null> => {
      const list = latest.current;
      const id = `${list.key}\u0002${what}\u0002${offset}`;
      const running = inflight.current.get(id);
      if (running) return running;
      setBusy((n) => n + 1);
      const task = fetchPage(run, list.params, offset, limit).then(
        (page) => {
          const now = latest.current;
          if (now.key !== list.key) return null; // an answer for a list that is gone
          const next = place(now, page);
          if (next) commit(next);
          setError((e) => (e && e.key === list.key ? null : e));
          return next ?? now;
        },
        (exc) => {
          if (latest.current.key === list.key) {
            const again = () => void load(what, offset, limit, place);
            setError({ key: list.key, message: describeError(exc), retry: again });
          }
          return null;
        },
      ).finally(() => {
        inflight.current.delete(id);
        setBusy((n) => n - 1);
      });
      inflight.current.set(id, task);
      return task;
    },
    [run],
  );

  const more = useCallback((): Promise<PagedList | null> => {
    const list = latest.current;
    if (list.key !== keyNow.current || isDone(list)) return Promise.resolve(list.key === keyNow.current ? list : null);
    const offset = list.start + list.items.length;
    return load("more", offset, PAGE_SIZE, (now, page) => {
      if (now.start + now.items.length !== offset) return null; // appended meanwhile
      const seen = new Set(now.items.map((i) => i.index));
      const items = page.items.filter((i) => !seen.has(i.index));
      // An empty answer short of the total (the list shrank): the end is here.
      const total = page.items.length ? page.total : offset;
      return { ...now, items: [...now.items, ...items], total, queue: page.queue ?? null };
    });
  }, [load]);

  const earlier = useCallback((): Promise<PagedList | null> => {
    const list = latest.current;
    if (list.key !== keyNow.current || list.start === 0 || list.total === null) return Promise.resolve(null);
    const from = Math.max(0, list.start - PAGE_SIZE);
    return load("earlier", from, list.start - from, (now, page) => {
      if (now.start !== list.start) return null;
      const seen = new Set(now.items.map((i) => i.index));
      const items = page.items.filter((i) => !seen.has(i.index));
      return { ...now, start: now.start - items.length, items: [...items, ...now.items], total: page.total };
    });
  }, [load]);

  const refresh = useCallback(async (index: number): Promise<void> => {
    const list = latest.current;
    const at = list.items.findIndex((i) => i.index === index);
    if (at < 0) return;
    await load("refresh", list.start + at, 1, (now, page) => {
      const where = now.items.findIndex((i) => i.index === index);
      const item = page.items[0];
      if (where < 0 || !item || item.index !== index) return null;
      const items = [...now.items];
      items[where] = item;
      return { ...now, items };
    });
  }, [load]);

  // A new list: start it over from its first page (the URL's offset).
  useEffect(() => {
    if (latest.current.key !== key || latest.current.total === null) {
      if (latest.current.key !== key) commit(fresh(key, paramsNow.current));
      void more();
    }
  }, [key, more]);

  const list = state.key === key ? state : fresh(key, params);
  const shownError = error && error.key === key ? error : null;
  return {
    list,
    loading: busy > 0,
    error: shownError?.message ?? null,
    more,
    earlier,
    retry: () => {
      setError(null);
      shownError?.retry();
    },
    refresh,
    current: () => (latest.current.key === keyNow.current ? latest.current : null),
  };
}
