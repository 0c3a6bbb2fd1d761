// The grid's scrolling and keys: the next page is fetched when the end of the loaded cards comes
// near (an IntersectionObserver on a row after the last card), j/k move the selection through the
// loaded cards and load the next (previous) page past the last (first) one, the selected card is
// scrolled into view, Enter opens it. Pages loaded above keep the cards in view where they were.

import { useCallback, useEffect, useLayoutEffect, useRef } from "react";
import { isDone, type Paged, type PagedList } from "./usePagedList";
import { isTyping } from "./util";

/** How far below the visible part of the grid the next page is fetched (px). */
const AHEAD = 400;

export function useGridScroll(paged: Paged, selected: number | null, onSelect: (index: number) => void, open: (index: number) => void) {
  const gridRef = useRef<HTMLDivElement>(null);
  const sentinelRef = useRef<HTMLDivElement>(null);
  const { list, loading, error, more, earlier, current } = paged;
  // No choice yet: the card at the URL's offset (the top of the list as it was opened).
  const first = () => Math.max(0, (Number(list.params.get("offset") ?? 0) || 0) - list.start);
  const position = Math.max(0, selected === null ? first() : list.items.findIndex((i) => i.index === selected));

  // The latest choice, for keys pressed faster than the grid re-renders.
  const chosen = useRef(selected);
  useEffect(() => {
    chosen.current = selected;
  }, [selected]);
  const choose = useCallback((index: number) => {
    chosen.current = index;
    onSelect(index);
  }, [onSelect]);

  // Items put above the cards move them down: scroll by as much, so the view stays put (the
  // browser's own scroll anchoring is off for the grid: it does nothing at the very top).
  const before = useRef<{ start: number; index: number; top: number } | null>(null);
  const cardTop = (index: number) =>
    gridRef.current?.querySelector(`[data-testid="rv-card-${index}"]`)?.getBoundingClientRect().top ?? null;
  const loadEarlier = useCallback((): Promise<PagedList | null> => {
    const now = current();
    const top = now?.items.length ? cardTop(now.items[0].index) : null;
    if (now && top !== null) before.current = { start: now.start, index: now.items[0].index, top };
    return earlier();
  }, [current, earlier]);
  useLayoutEffect(() => {
    const grid = gridRef.current;
    const b = before.current;
    const top = b ? cardTop(b.index) : null;
    if (grid && b && list.start < b.start && top !== null) {
      grid.scrollTop += top - b.top;
      before.current = null;
    }
  }, [list.start]);

  // Another list (filter, sort, queue): from its top.
  useLayoutEffect(() => {
    if (gridRef.current) gridRef.current.scrollTop = 0;
  }, [list.key]);

  // Bound before the paint (a layout effect): a key pressed as soon as the cards show is heard.
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e)) return;
      const now = current();
      if (!now || !now.items.length) return;
      const offset = Math.max(0, (Number(now.params.get("offset") ?? 0) || 0) - now.start);
      const from = now.items[Math.max(0, chosen.current === null ? Math.min(offset, now.items.length - 1)
                                           : now.items.findIndex((i) => i.index === chosen.current))];
      const at = now.items.indexOf(from);
      if (e.key === "j") {
        if (now.items[at + 1]) choose(now.items[at + 1].index);
        else if (!isDone(now))
          void more().then((after) => {
            const next = after?.items[at + 1];
            if (next && (chosen.current ?? from.index) === from.index) choose(next.index);
          });
      } else if (e.key === "k") {
        if (at > 0) choose(now.items[at - 1].index);
        else if (now.start > 0)
          void loadEarlier().then((after) => {
            const there = after ? after.items.findIndex((i) => i.index === from.index) : -1;
            if (there > 0 && (chosen.current ?? from.index) === from.index) choose(after!.items[there - 1].index);
          });
      } else if (e.key === "Enter") open(from.index);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [current, more, loadEarlier, choose, open]);

  useEffect(() => {
    gridRef.current?.querySelector(`[data-selected="true"]`)?.scrollIntoView({ block: "nearest" });
  }, [position, selected]);

  // The end of the loaded cards within AHEAD px of the view: fetch the next page. Observed anew
  // after each page, so a page that does not fill the view is followed by the next one.
  const total = list.total;
  const count = list.items.length;
  const done = isDone(list);
  useEffect(() => {
    const grid = gridRef.current;
    const end = sentinelRef.current;
    if (!grid || !end || error || loading || total === null || done) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void more();
    }, { root: grid, rootMargin: `0px 0px ${AHEAD}px 0px` });
    observer.observe(end);
    return () => observer.disconnect();
  }, [count, total, done, loading, error, more]);

  return { gridRef, sentinelRef, position, loadEarlier: () => void loadEarlier() };
}
