// The operator palette: every operator of GET /api/operators by group, searchable. Drag one onto
// the canvas to add a step (or press Enter / double-click to add it at a free spot).

import { useMemo, useState, type DragEvent } from "react";
import { paletteGroups, type Catalog } from "../catalog";
import { kindColor } from "../kinds";
import type { OperatorSchema } from "../types";

export const OPERATOR_MIME = "application/x-factorline-operator";

interface Props {
  catalog: Catalog;
  itemKind: string;
  onAdd: (op: OperatorSchema) => void;
}

export function Palette({ catalog, itemKind, onAdd }: Props) {
  const [query, setQuery] = useState("");
  const groups = useMemo(() => paletteGroups(catalog, query), [catalog, query]);

  const startDrag = (event: DragEvent, op: OperatorSchema) => {
    event.dataTransfer.setData(OPERATOR_MIME, op.id);
    event.dataTransfer.setData("text/plain", op.id);
    event.dataTransfer.effectAllowed = "copy";
  };

  return (
    <aside className="palette" data-testid="palette">
      <div className="palette-search">
        <input
          type="search"
          placeholder="Search operators, fields…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          aria-label="Search operators"
          data-testid="palette-search"
        />
      </div>
      <div className="palette-groups">
        {groups.length === 0 && <p className="muted">No operator matches “{query}”.</p>}
        {groups.map(([group, ops]) => (
          <section key={group} className="palette-group" data-testid={`palette-group-${group}`}>
            <h3 className={`group-${group}`}>{group}</h3>
            {ops.map((op) => {
              const usable = op.item_kinds.includes(itemKind);
              return (
                <div
                  key={op.id}
                  className={`palette-item${usable ? "" : " unusable"}`}
                  draggable
                  tabIndex={0}
                  role="button"
                  onDragStart={(e) => startDrag(e, op)}
                  onDoubleClick={() => onAdd(op)}
                  onKeyDown={(e) => e.key === "Enter" && onAdd(op)}
                  title={`${op.description}\n\nDrag onto the canvas (or double-click) to add a step.${
                    usable ? "" : `\nWorks on ${op.item_kinds.join(", ")} items only.`
                  }`}
                  data-testid={`palette-item-${op.name}`}
                >
                  <div className="palette-item-head">
                    <span className="palette-title">{op.title}</span>
                    <span className="palette-id">{op.id}</span>
                  </div>
                  <div className="palette-desc">{op.description}</div>
                  <div className="palette-kinds">
                    {Object.entries(op.inputs).map(([name, input]) => (
                      <span key={name} className="mini-kind" style={{ color: kindColor(input.kind) }}>
                        {input.kind}
                      </span>
                    ))}
                    <span className="muted">→</span>
                    <span className="mini-kind" style={{ color: kindColor(op.output.kind) }}>
                      {Object.keys(op.output.fields).length - 1} fields
                    </span>
                    {!usable && <span className="mini-warn">{op.item_kinds.join("/")} only</span>}
                  </div>
                </div>
              );
            })}
          </section>
        ))}
      </div>
    </aside>
  );
}
