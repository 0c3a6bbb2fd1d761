"""The HTTP service under a bounded load, request batching on vs off, in one run.

Two servers (``factorline.serve``, uvicorn, loopback) run the same image pipeline with four
factors (black_border, clarity, faces, nsfw; the last two share one NudeNet detector pass
per frame), identical but for ``batching``. Concurrent clients upload real photos
(scikit-image's astronaut, coffee, chelsea, ...) as fast as they are answered. The time is
split into rounds that alternate off/on, so drift of a shared machine hits both alike.

Reported per mode: throughput (requests/s), p50 and p99 latency, statuses, lost requests
(no answer at all) and unexpected 5xx, and what batching did (frames and requests per model
call, from the server's /metrics). Also the detector alone at batch 1, 4 and 8, which says
whether a bigger batch can pay on this machine at all. Target: on/off >= 2x, none lost, no 5xx.

    .venv/bin/python benchmarks/serve_load.py [--seconds 30] [--clients 32] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import update_readme_row, write_result

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = {
    "name": "bench_photos",
    "input": "image",
    "steps": {"border": {"op": "black_border"}, "clarity": {"op": "clarity"}, "faces": {"op": "faces"}, "nsfw": {"op": "nsfw"}},
    "decisions": {
        "moderation": {
            "policy": "first",
            "on_missing": "review",
            "on_error": "review",
            "rules": [
                {"id": "explicit", "when": "nsfw.score > 0.8", "outcome": "reject"},
                {"id": "bars", "when": "border.area_ratio > 0.1", "outcome": "review"},
                {"id": "soft", "when": "clarity.score < 0.3", "outcome": "review"},
                {"id": "ok", "default": True, "outcome": "accept"},
            ],
        }
    },
}


def photos() -> list[tuple[str, bytes]]:
    """Real photos that scikit-image ships, as JPEG bytes."""
    from PIL import Image
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        buf = io.BytesIO()
        Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").save(buf, "JPEG", quality=90)
        out.append((f"{name}.jpg", buf.getvalue()))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- server child


def child(args: argparse.Namespace) -> None:
    from factorline.serve import ServeSettings, serve

    settings = ServeSettings(
        port=args.port, workers=args.workers, queue_size=args.queue_size, batching=args.batching == "on",
        batch_max_size=args.batch_max_size, batch_max_wait_ms=args.batch_max_wait_ms, log_level="warning",
    )
    serve([Path(args.pipeline)], settings)


def start_server(pipeline: Path, batching: bool, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, __file__, "--child", "--pipeline", str(pipeline), "--port", str(port), "--batching", "on" if batching else "off",
           "--workers", str(args.workers), "--queue-size", str(args.queue_size), "--batch-max-size", str(args.batch_max_size),
           "--batch-max-wait-ms", str(args.batch_max_wait_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready in time")


# --------------------------------------------------------------------------- load


async def load(url: str, files: list[tuple[str, bytes]], clients: int, seconds: float) -> dict:
    """``clients`` loops uploading photos for ``seconds``; every request is accounted for."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lost: list[str] = []
    timings: dict[str, float] = {}  # server-side per-step ms, summed over answered items
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(i: int, http: httpx.AsyncClient) -> None:
        k = i
        while time.perf_counter() < stop:
            name, body = files[k % len(files)]
            k += 1
            t0 = time.perf_counter()
            try:
                r = await http.post(f"{url}/api/pipelines/{PIPELINE['name']}/run", files={"file": (name, body, "image/jpeg")})
            except httpx.HTTPError as exc:
                lost.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
            if r.status_code == 200:
                record = r.json()
                if record.get("error"):
                    statuses["200_with_item_error"] = statuses.get("200_with_item_error", 0) + 1
                for step, ms in record["timings_ms"].items():
                    timings[step] = timings.get(step, 0.0) + ms

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return {"latencies": latencies, "statuses": statuses, "lost": lost, "timings": timings, "wall_s": time.perf_counter() - started}


def summarize(parts: list[dict]) -> dict:
    lat = np.array([x for p in parts for x in p["latencies"]])
    statuses: dict[str, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    wall = sum(p["wall_s"] for p in parts)
    ok = statuses.get("200", 0)
    steps: dict[str, float] = {}
    for p in parts:
        for k, v in p["timings"].items():
            steps[k] = steps.get(k, 0.0) + v
    return {
        "requests_ok": ok,
        "throughput_rps": round(ok / wall, 2),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1) if len(lat) else None,
        "statuses": statuses,
        "lost": sum(len(p["lost"]) for p in parts),
        "unexpected_5xx": sum(v for k, v in statuses.items() if k.isdigit() and k.startswith("5")),
        "wall_s": round(wall, 2),
        # Mean server-side ms per item and step ("faces" holds the detector pass nsfw reuses).
        "item_ms": {k: round(v / max(ok, 1), 2) for k, v in steps.items()},
    }


def batch_stats(url: str) -> dict:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=5).text
    values = {}
    for line in text.splitlines():
        for key in ("factorline_batch_rows_sum", "factorline_batch_rows_count", "factorline_batch_callers_sum"):
            if line.startswith(key + "{"):
                values[key] = float(line.rsplit(" ", 1)[1])
    calls = values.get("factorline_batch_rows_count", 0.0)
    if not calls:
        return {"model_calls": 0}
    return {
        "model_calls": int(calls),
        "frames_per_call": round(values["factorline_batch_rows_sum"] / calls, 2),
        "requests_per_call": round(values["factorline_batch_callers_sum"] / calls, 2),
    }


def detector_alone(rounds: int = 5, seconds: float = 0.5) -> dict:
    """Best ms per frame of the NudeNet session at batch 1, 4, 8 (one caller, no server);
    batch sizes interleaved over ``rounds`` so a noisy neighbour hits them alike."""
    from factorline.operators.people import INPUT_SIZE, load_nudenet

    model = load_nudenet()
    best: dict[int, float] = {}
    for _ in range(rounds):
        for bs in (1, 4, 8):
            x = np.random.default_rng(0).random((bs, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
            model.session.run(None, {model.input_name: x})
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                model.session.run(None, {model.input_name: x})
                n += 1
            best[bs] = min(best.get(bs, float("inf")), (time.perf_counter() - t0) / n / bs * 1000)
    return {f"batch_{bs}_ms_per_frame": round(ms, 2) for bs, ms in best.items()}


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)  # graceful: drains what is in flight
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="load time per mode")
    ap.add_argument("--rounds", type=int, default=3, help="alternating off/on rounds the time is split into")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--queue-size", type=int, default=64)
    ap.add_argument("--batch-max-size", type=int, default=16)
    ap.add_argument("--batch-max-wait-ms", type=float, default=5.0)
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pipeline", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batching", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    files = photos()
    detector = detector_alone()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Path(tmp) / "bench_photos.json"
        pipeline.write_text(json.dumps(PIPELINE))
        servers = {mode: start_server(pipeline, mode == "on", args) for mode in ("off", "on")}
        try:
            for proc, url in servers.values():
                wait_ready(url, proc)
            for _, url in servers.values():  # warm the first-request paths
                asyncio.run(load(url, files, 2, 2.0))
            parts: dict[str, list[dict]] = {"off": [], "on": []}
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    parts[mode].append(asyncio.run(load(servers[mode][1], files, args.clients, args.seconds / args.rounds)))
            batching = {mode: batch_stats(url) for mode, (_, url) in servers.items()}
        finally:
            exits = {mode: stop_server(proc) for mode, (proc, _) in servers.items()}
    modes = {mode: summarize(p) for mode, p in parts.items()}
    report(args, modes, batching, exits, detector)


def report(args: argparse.Namespace, modes: dict, batching: dict, exits: dict, detector: dict) -> None:
    off, on = modes["off"], modes["on"]
    ratio = on["throughput_rps"] / off["throughput_rps"] if off["throughput_rps"] else 0.0
    # Batching can only shrink the model's share of an item's time: even a free model call
    # bounds the speed-up by 1 / (1 - share) (Amdahl).
    share = (off["item_ms"].get("faces", 0.0) + off["item_ms"].get("nsfw", 0.0)) / max(off["item_ms"].get("total", 0.0), 1e-9)
    # uvicorn re-raises the SIGTERM it caught once it has drained: -15 is a clean exit too.
    clean = all(m["lost"] == 0 and m["unexpected_5xx"] == 0 for m in modes.values()) and all(v in (0, -signal.SIGTERM) for v in exits.values())
    verdict = "pass" if ratio >= 2.0 and clean else ("FAIL: batching below 2x" if clean else "FAIL: lost requests or 5xx")
    result = {
        "config": {k: getattr(args, k) for k in ("seconds", "rounds", "clients", "workers", "queue_size", "batch_max_size", "batch_max_wait_ms")},
        "pipeline": PIPELINE,
        "batching_off": off,
        "batching_on": on,
        "ratio_on_over_off": round(ratio, 3),
        "batches": batching,
        "model_share_of_item_time_off": round(share, 3),
        "amdahl_bound_if_model_were_free": round(1.0 / max(1.0 - share, 1e-9), 2),
        "detector_alone": detector,
        "server_exit_codes": exits,
        "verdict": verdict,
    }
    write_result("serve_load", result)
    measured = (
        f"on/off {ratio:.2f}x ({on['throughput_rps']} vs {off['throughput_rps']} req/s); p50/p99 on {on['p50_ms']}/{on['p99_ms']} ms, "
        f"off {off['p50_ms']}/{off['p99_ms']} ms; lost {on['lost'] + off['lost']}, 5xx {on['unexpected_5xx'] + off['unexpected_5xx']}; "
        f"detector {detector['batch_1_ms_per_frame']} ms/frame at batch 1 vs {detector['batch_8_ms_per_frame']} at 8; "
        f"model {share:.0%} of item time (bound {1.0 / max(1.0 - share, 1e-9):.2f}x)"
    )
    if not args.no_readme:
        update_readme_row(
            "serve_load",
            f"HTTP service, {args.clients} clients x {args.seconds:g} s per mode uploading photos, 4-factor image pipeline, request batching on vs off",
            ">= 2x with batching; none lost, no 5xx",
            measured,
            verdict,
        )
    print(json.dumps({k: v for k, v in result.items() if k != "pipeline"}, indent=2))


if __name__ == "__main__":
    main()
