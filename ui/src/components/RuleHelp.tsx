// Inline help for the rule language, as the server states it (GET /api/schema): the grammar, each
// function with what it does and an example, the item's own fields, and the notes on lists and
// quoting. Nothing here is written by the editor.

import { useEditor } from "../context";

export function RuleHelp({ onClose }: { onClose: () => void }) {
  const { catalog } = useEditor();
  const rules = catalog.schema.rules;
  const when = catalog.schema.documents.rule.properties?.when?.description;
  return (
    <aside className="rule-help" data-testid="rule-help">
      <div className="rule-help-head">
        <h3>The rule language</h3>
        <button type="button" className="link" onClick={onClose} aria-label="Close the help">
          ✕
        </button>
      </div>
      {when && <p>{when}</p>}
      <h4>Functions</h4>
      <table className="rule-help-functions">
        <tbody>
          {rules.functions.map((f) => (
            <tr key={f.name} data-testid={`rule-help-fn-${f.name}`}>
              <td>
                <code>{f.signature}</code>
              </td>
              <td>
                {f.help}
                {f.example && (
                  <>
                    {" "}
                    <code className="example">{f.example}</code>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Grammar</h4>
      <pre className="rule-help-grammar">{rules.grammar}</pre>
      <h4>The item's own fields</h4>
      <p>
        {Object.entries(rules.item_fields).map(([f, dtype]) => (
          <code key={f} title={dtype} className="item-field">
            {rules.item}.{f}
          </code>
        ))}
      </p>
      <h4>Notes</h4>
      <pre className="rule-help-notes">{rules.notes}</pre>
    </aside>
  );
}
