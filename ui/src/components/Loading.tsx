// Before the catalogue is in: loading, or why not (with a token field when the API needs one).

export function Loading({ error, onToken }: { error: string | null; onToken: (token: string) => void }) {
  return (
    <div className="loading" data-testid="loading">
      {error ? (
        <>
          <p className="error-box">Cannot load the operator catalogue: {error}</p>
          <form
            className="token-field"
            onSubmit={(e) => {
              e.preventDefault();
              onToken(String(new FormData(e.currentTarget).get("token") ?? "").trim());
            }}
          >
            <label htmlFor="first-token">Token</label>
            <input id="first-token" name="token" type="password" autoComplete="off" data-testid="token-input" />
            <button type="submit">Connect</button>
          </form>
        </>
      ) : (
        <p>Loading operators…</p>
      )}
    </div>
  );
}
