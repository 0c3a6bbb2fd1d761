"""The HTTP service: ``factorline serve PIPELINE...`` (FastAPI on uvicorn, 127.0.0.1 by default).

    app = create_app(pipelines, settings=ServeSettings(...))   # dict name -> document, or files/folders
    serve(pipelines, settings)                                  # uvicorn until SIGINT/SIGTERM, then drain

Endpoints (errors are always ``{"error": {"type", "message", "path"}}``, plus ``issues``
inside ``error`` for a PipelineError or a request that failed validation):

=======  ================================  =================================================
GET      /                                 the pipeline editor (``ui/dist``; see ``static``)
GET      /health                           liveness ``{"status": "ok"}``
GET      /ready                            503 until models are warm / while shutting down
GET      /metrics                          Prometheus (requests, latency, queue, items, batches)
GET      /docs, /openapi.json              OpenAPI
GET      /api/operators                    ``[OperatorSpec.schema()]``: the editor's palette
GET      /api/samples                      media files under ``data_root`` ``[{path, kind, size}]``
GET      /api/pipelines                    ``[{name, description, fingerprint, input, steps:
                                           [{name, op, group}], decisions: [table names]}]``
GET      /api/pipelines/{name}             the normalized document
PUT      /api/pipelines/{name}             validate, warm its models, save atomically: the
                                           changes applied to the file's own text (comments,
                                           order kept; ``saves``), each save in its history;
                                           201 new / 200 replaced; 422 + issues when invalid
POST     /api/pipelines/{name}/preview-save  what a PUT would write: ``{file, exists, changed,
                                           diff, confirm}``
GET      /api/pipelines/{name}/history[/{version}]  saved versions (+ text and diff);
POST     .../history/{version}/restore     writes one back byte for byte (``routes_editor``)
GET      /api/schema                       kinds, name patterns, sampling/rule schemas, the
                                           condition language: what the editor checks with
POST     /api/validate                     document JSON or ``{"text": yaml}`` ->
                                           ``{ok, issues: [{path, message, code}], fingerprint, document}``
POST     /api/pipelines/{name}/run         multipart ``file`` -> the result record
POST     /api/pipelines/{name}/run-path    ``{"path": relative to data_root}`` -> the result record;
                                           both with ``?thumbnails=true`` add ``thumbnails``
                                           (JPEG data URIs at the evidence times, ``pictures``)
POST     /api/pipelines/{name}/decide      ``{"factors": {step: {field: value}}, "error"?}`` ->
                                           ``{decisions, pipeline: {name, fingerprint}}``
GET      /api/runs, /api/runs/{run}        run folders under ``runs_root`` (``--runs``), one run
GET      /api/runs/{run}/items             ``?filter=&sort=&offset=&limit=`` -> ``{items, total}``
GET      /api/runs/{run}/items/{item_id}   record, rules, timeline, verdicts, media URLs
POST     /api/runs/{run}/items/{id}/reviewsa verdict appended to RUN/reviews.jsonl (201)
GET      /api/runs/{run}/reviews           the verdicts; ``/queues/{flips|low_confidence|sample}``
GET      /media/runs/{run}/items/{i}/{what}``video`` (ranges) or ``thumb`` under ``media_roots``
=======  ================================  =================================================

A run answers 200 with the record even when the *item* is bad (empty, wrong type, truncated):
its ``error`` says why and each table decides ``on_error``, as in ``results.jsonl``. The
record's ``item.path`` is the uploaded file's base name (or the relative path), never a
server path.

Design (modules are small; routes only read input and call them):

- ``settings``  :class:`ServeSettings`; ``auth`` bearer token for ``/api/*`` and ``/metrics``
  (probes, docs and the editor's static files stay open), startup warnings (bound beyond
  loopback without a token; short or world-readable token file).
- ``hosts``  every request's ``Host`` must name this server (loopback names, the bound
  address, ``allowed_hosts``; else 421) and its ``Origin``, when sent, must be the server's
  own origin or an allowed host (else 403): no DNS rebinding, no cross-site writes.
- ``limits``  body cap (413, from Content-Length or while streaming), uploads received at once
  (``max_uploads``) and the admission queue: ``queue_size`` runs running or waiting, counted
  from when the upload has been received until the worker thread is done (a timed-out run
  still holds its slot: the bound is real); beyond it 429 with ``Retry-After`` (a full queue
  refuses an upload before reading it); 503 while shutting down.
- ``runner``  ``workers`` threads take admitted items; ``request_timeout_s`` bounds the whole
  request, upload included (408 for a slow upload, 504 for a slow run), and is also the
  engine's item deadline. Shutdown (uvicorn drains open requests, ``shutdown_grace_s``) then
  waits for admitted runs, stops the workers and batchers and removes the upload folder.
- ``workers``  ``isolation="process"`` (default): each thread hands its item to one of
  ``workers`` spawned worker processes and watches its memory and clock; one over
  ``max_item_memory_mb`` or past ``request_timeout_s`` + grace is killed and replaced, and the
  item gets a MediaLimitError / ItemTimeoutError record (MediaError when it crashed), counted
  in ``factorline_worker_kills_total{reason}``. ``isolation="thread"``: the threads run items
  themselves (decoding, numpy and onnxruntime release the GIL), sharing one copy of the models;
  nothing caps an item's memory, a slow item stops at its next step.
- ``uploads``  multipart streamed with python-multipart into a ``mkdtemp`` folder (0700),
  files 0600 under random names, removed when the run ends; an incomplete body, a boundary
  over 70 characters are 400; an upload silent for ``upload_stall_s`` or slower than
  ``upload_min_bytes_per_s`` is a 408, so a trickling client holds only its connection.
- models  documents are compiled and items run inside
  :func:`~factorline.models.store.confined_models`: ``params.model`` names the store, or a
  folder under ``model_roots``; model errors name the reference, never a server path.
- ``paths``  ``run-path`` only under ``data_root``: absolute, ``..``, backslash and control
  characters refused before touching the disk; symlinks out of the root refused after
  ``resolve``; the file is opened ``O_NOFOLLOW|O_NONBLOCK`` and read via ``/proc/self/fd``
  so a swapped symlink cannot redirect the engine; no decoding of ``%2e``.
- ``pipelines``  documents compiled at startup (an invalid one stops the server) and on PUT
  (compile + rule cases + model warm-up, then temp file + ``os.replace``); a pipeline is
  saved back to the file it came from, a new one to ``pipelines_dir/<name>.yaml``.
- ``batching``  (``isolation="thread"`` only: a worker process runs one item at a time, so
  ``batching="on"`` with process isolation is a settings error) models are loaded once, at
  startup, for every step of every pipeline (``ResourcePool.get(spec.resources)``). With batching on, resources registered in
  :mod:`factorline.serve.microbatch` (NudeNet, behind ``nsfw`` and ``faces``) get a
  :class:`~factorline.serve.microbatch.MicroBatcher` in front of their ONNX session: concurrent
  calls within ``batch_max_wait_ms`` are concatenated on the batch axis (at most
  ``batch_max_size`` frames), run once, and split back; operators do not change.
  ``batching="auto"`` (default) batches only sessions on an accelerator: on this project's
  2-core CPU a batch of N frames costs N single calls and serialising the calls into one
  lane lost throughput (``benchmarks/serve_load.py`` measures on vs off).

No request can execute code on the server: documents are YAML/JSON data (safe loader,
alias expansion bounded), conditions are parsed under the rules whitelist, operators come
only from the registry.
"""

from typing import Any

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    """``create_app`` and ``serve`` load FastAPI and uvicorn when first used: worker processes
    (``workers``) import this package and need neither."""
    if name in ("create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
