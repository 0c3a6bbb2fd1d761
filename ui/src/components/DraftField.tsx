// A text box whose typing is not rewritten under the cursor: the document gets the parsed value
// on every keystroke, while the box keeps the text as typed ("0." or a trailing new line would
// otherwise vanish). It follows the document again when the value changes from elsewhere.

import { useEffect, useRef, useState, type InputHTMLAttributes } from "react";

interface Props extends Omit<InputHTMLAttributes<HTMLInputElement & HTMLTextAreaElement>, "value" | "onChange"> {
  rows?: number; // for multiline
  value: string;
  /** Apply ``text``; return the value as the document now formats it (undefined: not applied). */
  onCommit: (text: string) => string | undefined;
  multiline?: boolean;
}

export function DraftField({ value, onCommit, multiline, rows, ...rest }: Props) {
  const [text, setText] = useState(value);
  const applied = useRef(value);

  useEffect(() => {
    if (value !== applied.current) {
      applied.current = value;
      setText(value);
    }
  }, [value]);

  const change = (next: string) => {
    setText(next);
    const formatted = onCommit(next);
    if (formatted !== undefined) applied.current = formatted;
  };

  return multiline ? (
    <textarea {...rest} rows={rows} value={text} onChange={(e) => change(e.target.value)} />
  ) : (
    <input {...rest} value={text} onChange={(e) => change(e.target.value)} />
  );
}
