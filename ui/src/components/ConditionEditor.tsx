// A rule's condition, always whole: a text area as wide as the table that grows with its text
// (no truncation), coloured by token (references, functions, keywords, text, numbers), with
// suggestions while typing (conditions.ts): ``step.field``, enum values, functions and words.
// Arrow keys move in the list, Enter or Tab takes a suggestion, Escape closes it.

import { useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { complete, tokens, type Completion } from "../conditions";
import { useEditor } from "../context";
import type { FactorRef } from "./RulesEditor";

interface Props {
  value: string;
  onChange: (value: string) => void;
  factors: FactorRef[];
  testid: string;
  invalid: boolean;
}

export function ConditionEditor({ value, onChange, factors, testid, invalid }: Props) {
  const { catalog } = useEditor();
  const rules = catalog.schema.rules;
  const area = useRef<HTMLTextAreaElement>(null);
  const [open, setOpen] = useState<Completion | null>(null);
  const [pick, setPick] = useState(0);
  // Where the caret goes once an accepted suggestion is in the text. Placed in the layout
  // effect of that very render, never a frame later: keys typed meanwhile must not land
  // before it (a late caret move scrambled fast typing).
  const caretAfterAccept = useRef<number | null>(null);
  const functions = useMemo(() => new Set(rules.functions.map((f) => f.name)), [rules]);

  // Grow with the text: the whole condition is always in view.
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${el.scrollHeight + 2}px`;
    const caret = caretAfterAccept.current;
    if (caret !== null) {
      caretAfterAccept.current = null;
      el.focus();
      el.setSelectionRange(caret, caret);
    }
  }, [value]);

  const suggest = (text: string, caret: number) => {
    setOpen(complete(text, caret, factors, rules));
    setPick(0);
  };

  const accept = (index: number) => {
    const el = area.current;
    if (!open || !el) return;
    const item = open.items[index];
    const next = value.slice(0, open.from) + item.insert + value.slice(open.to);
    const caret = open.from + item.insert.length;
    caretAfterAccept.current = caret;
    onChange(next);
    if (item.insert.endsWith(".")) suggest(next, caret); // a step: its fields next
    else setOpen(null);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (!open) {
      if (e.key === " " && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        suggest(value, e.currentTarget.selectionStart);
      } else if (e.key === "Enter") e.preventDefault(); // a condition is one expression: no line breaks
      return;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const n = open.items.length;
      setPick((p) => (p + (e.key === "ArrowDown" ? 1 : n - 1)) % n);
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      accept(pick);
    } else if (e.key === "Escape") {
      e.preventDefault();
      setOpen(null);
    }
  };

  return (
    <div className={`condition-editor${invalid ? " bad" : ""}`}>
      <div className="condition-highlight mono" aria-hidden="true">
        {tokens(value, functions).map((t, i) => (
          <span key={i} className={`tok-${t.kind}`}>
            {t.text}
          </span>
        ))}
        {"\u200b"}
      </div>
      <textarea
        ref={area}
        className="condition-input mono"
        rows={1}
        value={value}
        placeholder="e.g. border.area_ratio > 0.2 and not slides.is_slideshow   (Ctrl+Space: suggestions)"
        spellCheck={false}
        onChange={(e) => {
          const text = e.target.value.replace(/\n/g, " ");
          onChange(text);
          suggest(text, e.target.selectionStart);
        }}
        onKeyDown={onKeyDown}
        onClick={(e) => open && suggest(value, e.currentTarget.selectionStart)}
        onBlur={() => window.setTimeout(() => setOpen(null), 120)}
        data-testid={testid}
      />
      {open && (
        <ul className="condition-suggestions" role="listbox" data-testid={`${testid}-suggestions`}>
          {open.items.map((item, i) => (
            <li
              key={item.label}
              role="option"
              aria-selected={i === pick}
              className={i === pick ? "picked" : ""}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the text
                accept(i);
              }}
              data-testid={`${testid}-suggestion-${i}`}
            >
              <code>{item.label}</code>
              <span className="muted">{item.detail}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
