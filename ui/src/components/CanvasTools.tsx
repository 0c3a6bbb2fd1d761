// The buttons over the canvas: undo, redo and auto-layout.

interface Props {
  canUndo: boolean;
  canRedo: boolean;
  onUndo: () => void;
  onRedo: () => void;
  onLayout: () => void;
}

export function CanvasTools({ canUndo, canRedo, onUndo, onRedo, onLayout }: Props) {
  return (
    <>
      <button type="button" onClick={onUndo} disabled={!canUndo} title="Undo (Ctrl+Z)" data-testid="undo-button">
        ↶ Undo
      </button>
      <button type="button" onClick={onRedo} disabled={!canRedo} title="Redo (Shift+Ctrl+Z, Ctrl+Y)" data-testid="redo-button">
        ↷ Redo
      </button>
      <button type="button" onClick={onLayout} title="Lay the steps out left to right along their wires" data-testid="auto-layout">
        Auto-layout
      </button>
    </>
  );
}
