// What the editor loads from the server before it can edit: the operator catalogue with the
// editor schema, the pipelines it serves and its sample files; loaded again when the API token
// changes (a server with --token-file answers 401 until one is entered).

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, getToken, setToken } from "./api";
import { makeCatalog, type Catalog } from "./catalog";
import type { PipelineSummary, SampleFile } from "./types";

/** An API error as the user reads it (a missing token says where to enter one). */
export function describe(exc: unknown): string {
  if (exc instanceof ApiError) {
    return exc.needsToken ? "this server needs an API token: enter it in the Token field (top right)" : `${exc.type}: ${exc.message}`;
  }
  return String(exc);
}

export function useServerData() {
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [pipelines, setPipelines] = useState<PipelineSummary[]>([]);
  const [samples, setSamples] = useState<SampleFile[]>([]);
  const [token, setTokenState] = useState(getToken());

  const load = useCallback(async () => {
    try {
      const [ops, schema, listed, media] = await Promise.all([api.operators(), api.schema(), api.pipelines(), api.samples()]);
      setCatalog(makeCatalog(ops, schema));
      setPipelines(listed);
      setSamples(media);
      setLoadError(null);
    } catch (exc) {
      setLoadError(describe(exc));
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load, token]);

  const changeToken = (next: string) => {
    setToken(next);
    setTokenState(next);
  };
  /** After a save: the server's list of pipelines again. */
  const refreshPipelines = () => void api.pipelines().then(setPipelines, () => undefined);

  return { catalog, loadError, pipelines, samples, token, changeToken, refreshPipelines };
}
