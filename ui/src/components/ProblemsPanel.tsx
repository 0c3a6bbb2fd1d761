// Every compile problem of the document, with its path; a click shows the place it concerns.

import type { Issue } from "../types";

interface Props {
  issues: Issue[];
  onPick: (issue: Issue) => void;
}

export function ProblemsPanel({ issues, onPick }: Props) {
  return (
    <section className="problems" data-testid="problems">
      <h3>
        Problems <span className="muted">({issues.length})</span>
      </h3>
      {issues.length === 0 ? (
        <p className="muted small">None: the document compiles and its cases pass.</p>
      ) : (
        <ul>
          {issues.map((issue, i) => (
            <li key={i}>
              <button type="button" className="problem" onClick={() => onPick(issue)} data-testid="problem">
                <code>{issue.path || "document"}</code>
                <span>{issue.message}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
