// The editor's keyboard: Ctrl/Cmd+S saves (everywhere); Ctrl/Cmd+Z undoes, Shift+Ctrl/Cmd+Z and
// Ctrl/Cmd+Y redo, Ctrl/Cmd+C/V copy and paste steps, Ctrl/Cmd+D duplicates them -- except while
// typing in a field, where those keys keep their usual meaning for the text.

import { useEffect, useRef } from "react";

/** Each handler says whether it did something; a key nothing handled keeps its browser meaning
 * (Ctrl+C with text selected on the page copies that text). */
export interface Shortcuts {
  save: () => void;
  undo: () => boolean;
  redo: () => boolean;
  copy: () => boolean;
  paste: () => boolean;
  duplicate: () => boolean;
}

function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function useShortcuts(handlers: Shortcuts): void {
  const ref = useRef(handlers);
  ref.current = handlers;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      const h = ref.current;
      if (key === "s") {
        event.preventDefault();
        h.save();
        return;
      }
      if (typingIn(event.target)) return;
      if (key === "c" && (window.getSelection()?.toString() ?? "") !== "") return; // copying text of the page
      const action =
        key === "z" ? (event.shiftKey ? h.redo : h.undo) : key === "y" ? h.redo : key === "c" ? h.copy : key === "v" ? h.paste : key === "d" ? h.duplicate : null;
      if (key === "d" || key === "z" || key === "y") event.preventDefault(); // Ctrl+D would bookmark the page
      if (action && action()) event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

/** Asks before the tab closes or reloads while ``dirty``. */
export function useLeaveGuard(dirty: boolean): void {
  useEffect(() => {
    if (!dirty) return;
    const onLeave = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = ""; // older browsers need it set to show the prompt
    };
    window.addEventListener("beforeunload", onLeave);
    return () => window.removeEventListener("beforeunload", onLeave);
  }, [dirty]);
}
