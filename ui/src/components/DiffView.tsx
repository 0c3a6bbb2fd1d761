// A unified diff, line by line: additions green, removals red, hunk headers muted.

export function DiffView({ diff, testid }: { diff: string; testid?: string }) {
  const lines = diff.replace(/\n$/, "").split("\n");
  return (
    <pre className="diff-view" data-testid={testid}>
      {lines.map((line, i) => {
        const tone = line.startsWith("+++") || line.startsWith("---") ? "file" : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "ctx";
        return (
          <div key={i} className={`diff-line diff-${tone}`}>
            {line || " "}
          </div>
        );
      })}
    </pre>
  );
}
