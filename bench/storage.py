"""Reproducible benchmark of nib's Storage API beside floors measured in the same run.

    python bench/storage.py [--duration 5] [--rounds 2] [--big-mib 100] [--rss-mib 1024]

Needs curl and nginx on PATH (bench/setup.sh installs both). nib runs on SQLite in a fresh temp
data dir, 1 worker, NIB_RATE_LIMITS=off (Appwrite limits file writes to 60 requests a minute:
a 1 GiB upload is 205 chunks). Steps:

1. RSS: a 1 GiB file uploaded in 5 MiB chunks, then downloaded (streaming httpx client), while
   the VmRSS of nib's process tree is sampled every 50 ms (first, so VmHWM is this phase's peak).
2. Upload of 1 MiB (one multipart request) and 100 MiB (5 MiB chunks with Content-Range and
   x-appwrite-id, sequential, as the SDKs send them) to a bucket with encryption off and
   compression none; floor: writing the same bytes to a new file on the same file system, in
   the same pieces, without fsync (nib does not fsync either). Interleaved, best round kept.
3. Download of the same files: curl, GETs in a row on one connection (wrk reads 8 KiB at a time
   and httpx is slower still: either caps nginx); floor: nginx (sendfile, one worker) serving
   the same bytes as a static file. Interleaved rounds, best kept. Context: the 1 MiB
   file from a bucket with encryption on (Appwrite encrypts files up to 20 MB only).
4. Preview of a 4000x3000 JPEG to 400 px wide (GET .../preview?width=400, default quality 100,
   JPEG out); the cached preview is deleted before every call so each call renders. Floor:
   ``pyvips.Image.thumbnail_buffer(data, 400).jpegsave_buffer(Q=100, keep="none")`` in this
   process, interleaved call by call; medians compared.

Writes bench/STORAGE-RESULTS.md (keeping everything below the "<!-- notes -->" marker) and
bench/storage-results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from run import (
    BENCH,
    PROJECT,
    ROOT,
    Server,
    _cpu_model,
    free_port,
    http,
    log,
    rss_kb,
    start_nib,
    wait_http,
    write_table,
)

MIB = 1 << 20
CHUNK = 5 * MIB  # the SDKs' chunk size
BOUNDARY = "nibbenchboundary7MA4YWxkTrZu0gW"


# ---------------------------------------------------------------------------------------------
# uploads


def make_file(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible), written in 8 MiB pieces."""
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, 8 * MIB)
            out.write(os.urandom(n))
            left -= n


def multipart(file_id: str, name: str, data: bytes) -> bytes:
    """The multipart body an SDK sends: fileId, then the file part."""
    return b"".join(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="fileId"\r\n\r\n{file_id}\r\n'.encode(),
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode(),
            data,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )


def upload(client: httpx.Client, bucket: str, file_id: str, path: Path) -> float:
    """Upload ``path`` as the SDKs do (one request up to 5 MiB, else 5 MiB chunks in order with
    Content-Range, x-appwrite-id from the second on); seconds taken, reading the file included."""
    size = path.stat().st_size
    url = f"/v1/storage/buckets/{bucket}/files"
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    t = time.perf_counter()
    with open(path, "rb") as f:
        start = 0
        while start < size:
            data = f.read(CHUNK)
            h = dict(headers)
            if size > CHUNK:
                h["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
                if start:
                    h["x-appwrite-id"] = file_id
            r = client.post(url, content=multipart(file_id, path.name, data), headers=h)
            if r.status_code != 201:
                raise RuntimeError(f"upload {file_id}: {r.status_code} {r.text}")
            start += len(data)
    elapsed = time.perf_counter() - t
    assert r.json()["sizeOriginal"] == size and r.json()["chunksUploaded"] == r.json()["chunksTotal"], r.json()
    return elapsed


def disk_write(src: Path, dest: Path) -> float:
    """The upload floor: the same bytes, read and written in the same 5 MiB pieces, no fsync."""
    t = time.perf_counter()
    with open(src, "rb") as f, open(dest, "wb") as out:
        while data := f.read(CHUNK):
            out.write(data)
    elapsed = time.perf_counter() - t
    dest.unlink()
    return elapsed


def delete_file(client: httpx.Client, bucket: str, file_id: str) -> None:
    r = client.delete(f"/v1/storage/buckets/{bucket}/files/{file_id}")
    assert r.status_code == 204, r.text


# ---------------------------------------------------------------------------------------------
# nginx


def start_nginx(root: Path) -> tuple[Server, str, Path]:
    """nginx in the foreground with a temp config: one worker, sendfile, ``root`` as static files."""
    prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  default_type application/octet-stream;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    server = Server(
        "nginx", [shutil.which("nginx"), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/", 15)
    except RuntimeError:
        raise RuntimeError(f"nginx did not start: {server.output()}") from None
    return server, base, prefix


# ---------------------------------------------------------------------------------------------
# downloads


def curl_download(url: str, count: int, headers: dict | None = None) -> dict:
    """``count`` GETs of ``url`` by one curl process on one kept-alive connection, bodies to
    /dev/null: curl reads far faster than wrk (8 KiB reads) or httpx, so the client does not cap
    nginx. Throughput = bytes / summed transfer times; p50 of the per-request times."""
    argv = ["curl", "-s", "--fail", "-w", "%{http_code} %{size_download} %{time_total}\\n"]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    for _ in range(count):
        argv += ["-o", "/dev/null", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    codes, sizes, times = out[0::3], [int(x) for x in out[1::3]], [float(x) for x in out[2::3]]
    assert codes == ["200"] * count, codes
    return {
        "requests": count,
        "bytes": sum(sizes),
        "seconds": sum(times),
        "mib_s": sum(sizes) / MIB / sum(times),
        "p50_ms": statistics.median(times) * 1000,
    }


# ---------------------------------------------------------------------------------------------
# RSS while moving a big file


class RssSampler:
    """Samples the summed VmRSS of a process tree every ``every`` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = sum(v.get("VmRSS", 0) for v in rss_kb(self.pid).values())
            self.peak_kb = max(self.peak_kb, now)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def stream_download(client: httpx.Client, url: str) -> tuple[float, int]:
    """Seconds and bytes of one download read to the end and thrown away."""
    t = time.perf_counter()
    n = 0
    with client.stream("GET", url) as r:
        assert r.status_code == 200, r.status_code
        for piece in r.iter_raw(1 << 20):
            n += len(piece)
    return time.perf_counter() - t, n


# ---------------------------------------------------------------------------------------------
# preview


def make_jpeg(path: Path) -> None:
    """A 4000x3000 photo-like JPEG (smooth colour gradients plus grain), quality 90."""
    import pyvips

    xy = pyvips.Image.xyz(4000, 3000)
    x, y = xy[0], xy[1]
    r = (x * 255 / 4000).cast("uchar")
    g = (y * 255 / 3000).cast("uchar")
    b = ((x + y) * 255 / 7000).cast("uchar")
    noise = pyvips.Image.gaussnoise(4000, 3000, sigma=12, mean=0)
    img = r.bandjoin([g, b]).cast("float").add(noise).cast("uchar").copy(interpretation="srgb")
    img.jpegsave(str(path), Q=90)


def bare_thumbnail(data: bytes) -> bytes:
    import pyvips

    return pyvips.Image.thumbnail_buffer(data, 400).jpegsave_buffer(Q=100, keep="none")


def preview_pairs(client: httpx.Client, url: str, previews_dir: Path, data: bytes, n: int) -> dict:
    """n preview requests, each after deleting the cached previews, interleaved with n bare
    pyvips thumbnails here; also n cache hits as context."""
    import pyvips

    bare_thumbnail(data)  # warm-up both sides
    shutil.rmtree(previews_dir, ignore_errors=True)
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", (r.status_code, r.text[:200])
    out = pyvips.Image.new_from_buffer(r.content, "")
    dims = (out.width, out.height)
    nib_ms, floor_ms, hit_ms = [], [], []
    for _ in range(n):
        t = time.perf_counter()
        bare_thumbnail(data)
        floor_ms.append((time.perf_counter() - t) * 1000)
        shutil.rmtree(previews_dir, ignore_errors=True)
        t = time.perf_counter()
        r = client.get(url)
        nib_ms.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        hit_ms.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return {
        "n": n,
        "nib_p50_ms": statistics.median(nib_ms),
        "nib_min_ms": min(nib_ms),
        "floor_p50_ms": statistics.median(floor_ms),
        "floor_min_ms": min(floor_ms),
        "cache_hit_p50_ms": statistics.median(hit_ms),
        "preview_dims": dims,
        "preview_bytes": len(r.content),
        "floor_bytes": len(bare_thumbnail(data)),
    }


# ---------------------------------------------------------------------------------------------
# main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--download-gib", type=int, default=1, help="GiB downloaded per scenario and round")
    ap.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of uploads and downloads; the best is kept"
    )
    ap.add_argument("--big-mib", type=int, default=100)
    ap.add_argument("--rss-mib", type=int, default=1024)
    ap.add_argument("--previews", type=int, default=15, help="preview calls (and bare thumbnails)")
    ap.add_argument("--no-write", action="store_true", help="do not write STORAGE-RESULTS.md / storage-results.json")
    args = ap.parse_args()
    missing = [tool for tool in ("curl", "nginx") if not shutil.which(tool)]
    if missing:
        print(f"missing: {', '.join(missing)}; run bench/setup.sh to install them", file=sys.stderr)
        return 2

    results: dict = {
        "command": ("python bench/storage.py " + " ".join(sys.argv[1:])).strip(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg(),
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "git": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
        },
        "download_gib": args.download_gib,
        "rounds": args.rounds,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    files_dir = tmp / "files"  # the source files, also nginx's root
    files_dir.mkdir()
    tmp.chmod(0o755)  # nginx's worker runs as nobody
    data_dir = tmp / "data"
    servers: list[Server] = []
    nginx_prefix = None
    try:
        sizes = {"1MiB": MIB, f"{args.big_mib}MiB": args.big_mib * MIB}
        log("making the files")
        for name, size in {**sizes, "rss": args.rss_mib * MIB}.items():
            make_file(files_dir / f"{name}.bin", size)
        make_jpeg(files_dir / "photo.jpg")
        for p in files_dir.iterdir():
            p.chmod(0o644)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log(f"starting nib on {base}")
        nib = start_nib(data_dir, port)
        servers.append(nib)
        key = nib.output().split("key:", 1)[1].split()[0]
        H = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key}
        for bucket, encryption in (("plain", False), ("encrypted", True)):
            status, body = http(
                "POST",
                f"{base}/v1/storage/buckets",
                {
                    "bucketId": bucket,
                    "name": bucket,
                    "encryption": encryption,
                    "compression": "none",
                    "antivirus": False,
                },
                H,
            )
            assert status == 201, body
        client = httpx.Client(base_url=base, headers=H, timeout=300)

        log(f"RSS: {args.rss_mib} MiB up and down")
        rss_file = files_dir / "rss.bin"
        with RssSampler(nib.proc.pid) as s:
            up_s = upload(client, "plain", "rss", rss_file)
        up_peak = s.peak_kb
        with RssSampler(nib.proc.pid) as s:
            down_s, down_n = stream_download(client, "/v1/storage/buckets/plain/files/rss/download")
        assert down_n == rss_file.stat().st_size
        results["rss"] = {
            "mib": args.rss_mib,
            "upload_seconds": up_s,
            "upload_peak_rss_kb": up_peak,
            "download_seconds": down_s,
            "download_peak_rss_kb": s.peak_kb,
            "after": rss_kb(nib.proc.pid),
        }
        log(
            f"RSS: upload {up_s:.1f}s peak {up_peak / 1024:.0f} MB; download {down_s:.1f}s peak {s.peak_kb / 1024:.0f} MB"
        )
        delete_file(client, "plain", "rss")
        rss_file.unlink()

        log("uploads, with the disk-write floor")
        uploads: dict = {name: {"nib_s": [], "floor_s": []} for name in sizes}
        repeat = {"1MiB": 20}
        for r in range(args.rounds):
            for name in sizes:
                src = files_dir / f"{name}.bin"
                for i in range(repeat.get(name, 1)):
                    file_id = f"u{name}r{r}i{i}".replace("MiB", "m")
                    uploads[name]["floor_s"].append(disk_write(src, data_dir / "floor.bin"))
                    uploads[name]["nib_s"].append(upload(client, "plain", file_id, src))
                    if r + 1 < args.rounds or i + 1 < repeat.get(name, 1):
                        delete_file(client, "plain", file_id)
        for name, size in sizes.items():
            u = uploads[name]
            # 1 MiB: the median of all its uploads (20 per round); bigger: the best of the rounds
            pick = statistics.median if name == "1MiB" else min
            u["nib_mb_s"] = size / MIB / pick(u["nib_s"])
            u["floor_mb_s"] = size / MIB / pick(u["floor_s"])
            log(f"upload {name}: nib {u['nib_mb_s']:.0f} MiB/s, disk write {u['floor_mb_s']:.0f} MiB/s")
        results["upload"] = uploads
        # the files downloaded below: the last round's uploads
        ids = {name: f"u{name}r{args.rounds - 1}i{repeat.get(name, 1) - 1}".replace("MiB", "m") for name in sizes}
        assert (
            client.post(
                "/v1/storage/buckets/encrypted/files",
                content=multipart("enc1m", "1MiB.bin", (files_dir / "1MiB.bin").read_bytes()),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            ).json()["encryption"]
            is True
        )

        log("downloads: nib and nginx, curl, one connection")
        ngx, ngx_base, nginx_prefix = start_nginx(files_dir)
        servers.append(ngx)
        scenarios = []
        for name in sizes:
            nib_url = f"{base}/v1/storage/buckets/plain/files/{ids[name]}/download"
            r = client.get(nib_url)
            assert r.content == (files_dir / f"{name}.bin").read_bytes(), name
            scenarios.append((f"nib_{name}", nib_url, H, name))
            scenarios.append((f"nginx_{name}", f"{ngx_base}/{name}.bin", None, name))
        enc_url = f"{base}/v1/storage/buckets/encrypted/files/enc1m/download"
        assert client.get(enc_url).content == (files_dir / "1MiB.bin").read_bytes()
        scenarios.append(("nib_encrypted_1MiB", enc_url, H, "1MiB"))
        # about the same bytes per run for both sizes: 1 GiB, at least 5 requests
        counts = {name: max(5, (1024 * MIB * args.download_gib) // size) for name, size in sizes.items()}
        for _, url, headers, name in scenarios:  # warm-up
            curl_download(url, 3, headers)
        runs: dict[str, list] = {name: [] for name, *_ in scenarios}
        for r in range(args.rounds):
            for name, url, headers, size_name in scenarios:
                x = curl_download(url, counts[size_name], headers)
                x["loadavg"] = os.getloadavg()[0]
                runs[name].append(x)
                log(
                    f"round {r + 1}: {name}: {x['mib_s']:.0f} MiB/s, p50 {x['p50_ms']:.1f} ms (load {x['loadavg']:.1f})"
                )
        results["download"] = {}
        for name, v in runs.items():
            top = dict(max(v, key=lambda x: x["mib_s"]))
            top["rounds_mib_s"] = [round(x["mib_s"]) for x in v]
            results["download"][name] = top
        ngx.stop()

        log("preview 4000x3000 -> 400 wide, cache deleted between calls, with the bare pyvips floor")
        jpeg = files_dir / "photo.jpg"
        r = client.post(
            "/v1/storage/buckets/plain/files",
            content=multipart("photo", "photo.jpg", jpeg.read_bytes()),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert r.status_code == 201, r.text
        previews_dir = data_dir / "storage" / PROJECT / "plain" / "photo" / "previews"
        results["preview"] = preview_pairs(
            client,
            "/v1/storage/buckets/plain/files/photo/preview?width=400",
            previews_dir,
            jpeg.read_bytes(),
            args.previews,
        )
        results["preview"]["jpeg_bytes"] = jpeg.stat().st_size
        p = results["preview"]
        log(f"preview: nib p50 {p['nib_p50_ms']:.1f} ms, bare pyvips p50 {p['floor_p50_ms']:.1f} ms")
        client.close()
        results["nib_rss_at_end"] = rss_kb(nib.proc.pid)
        results["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if nginx_prefix:
            shutil.rmtree(nginx_prefix, ignore_errors=True)

    print(json.dumps(results, indent=2, default=str))
    if not args.no_write:
        (BENCH / "storage-results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        write_results_md(results, sizes)
    return 0


def write_results_md(r: dict, sizes: dict) -> None:
    def ok(b: bool) -> str:
        return "**yes**" if b else "**NO**"

    rows = []
    for name in sizes:
        u = r["upload"][name]
        how = (
            f"one multipart request, median of {len(u['nib_s'])}"
            if name == "1MiB"
            else "5 MiB chunks, sequential, best round"
        )
        rows.append(
            (
                f"upload {name} ({how})",
                f"{u['nib_mb_s']:.0f} MiB/s",
                f"disk write (same pieces, no fsync): {u['floor_mb_s']:.0f} MiB/s",
                f"{u['nib_mb_s'] / u['floor_mb_s']:.2f}x",
                "(reported beside the floor)",
                "-",
            )
        )
    d = r["download"]
    for name in sizes:
        n, g = d[f"nib_{name}"], d[f"nginx_{name}"]
        q = n["mib_s"] / g["mib_s"]
        paired = [a / b for a, b in zip(n["rounds_mib_s"], g["rounds_mib_s"], strict=True)]
        rows.append(
            (
                f"download {name} ({n['requests']} GETs)",
                f"{n['mib_s']:.0f} MiB/s (p50 {n['p50_ms']:.1f} ms; rounds {n['rounds_mib_s']})",
                f"nginx: {g['mib_s']:.0f} MiB/s (p50 {g['p50_ms']:.1f} ms; rounds {g['rounds_mib_s']})",
                f"{q:.2f}x nginx (best rounds); round by round {', '.join(f'{x:.2f}x' for x in paired)}",
                ">= 0.5x nginx",
                ok(q >= 0.5),
            )
        )
    e, p1 = d["nib_encrypted_1MiB"], d["nib_1MiB"]
    rows.append(
        (
            "download 1MiB from an encrypted bucket",
            f"{e['mib_s']:.0f} MiB/s (p50 {e['p50_ms']:.1f} ms)",
            f"unencrypted: {p1['mib_s']:.0f} MiB/s",
            f"{e['mib_s'] / p1['mib_s']:.2f}x unencrypted",
            "(context)",
            "-",
        )
    )
    p = r["preview"]
    q = p["nib_p50_ms"] / p["floor_p50_ms"]
    rows.append(
        (
            f"preview 4000x3000 JPEG -> {p['preview_dims'][0]}x{p['preview_dims'][1]} JPEG, cache missed ({p['n']} calls)",
            f"p50 {p['nib_p50_ms']:.1f} ms (min {p['nib_min_ms']:.1f})",
            f"bare pyvips thumbnail + jpegsave: p50 {p['floor_p50_ms']:.1f} ms (min {p['floor_min_ms']:.1f})",
            f"{q:.2f}x",
            "<= 1.5x",
            ok(q <= 1.5),
        )
    )
    rows.append(("preview, cache hit", f"p50 {p['cache_hit_p50_ms']:.1f} ms", "", "", "(context)", "-"))
    rs = r["rss"]
    peak = max(rs["upload_peak_rss_kb"], rs["download_peak_rss_kb"]) / 1024
    hwm = sum(v.get("VmHWM", 0) for v in rs["after"].values()) / 1024
    rows.append(
        (
            f"nib RSS while moving a {rs['mib']} MiB file",
            f"upload peak {rs['upload_peak_rss_kb'] / 1024:.0f} MB ({rs['mib'] / rs['upload_seconds']:.0f} MiB/s), "
            f"download peak {rs['download_peak_rss_kb'] / 1024:.0f} MB ({rs['mib'] / rs['download_seconds']:.0f} MiB/s, httpx); VmHWM {hwm:.0f} MB",
            "",
            "",
            "< 300 MB",
            ok(max(peak, hwm) < 300),
        )
    )
    m = r["machine"]
    out = [
        "# nib storage benchmark results",
        "",
        "Generated by `bench/storage.py`; the notes below the marker are kept across runs.",
        "",
        f"- Command: `{r['command']}` (from the repo root, in the virtualenv {sys.prefix}; `bench/setup.sh` installs nginx)",
        f"- Date: {r['date']}; nib commit {m['git']}",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}, {m['nginx']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}, at end {', '.join(f'{x:.2f}' for x in m.get('loadavg_at_end', []))}",
        "- nib: SQLite, 1 worker, local disk device, NIB_RATE_LIMITS=off; throughput figures use a bucket with "
        "encryption off and compression none (random, incompressible bytes); loopback; the machine is shared",
        f"- Downloads: one curl process per scenario, GETs in a row on one kept-alive connection, bodies to /dev/null, about "
        f"{r['download_gib']} GiB per scenario; nib and nginx interleaved for {r['rounds']} rounds, best round kept (every round in "
        "storage-results.json); nginx: one worker, sendfile, the same file (page cache)",
    ]
    write_table(BENCH / "STORAGE-RESULTS.md", out, rows, "bench/storage-results.json")


if __name__ == "__main__":
    sys.exit(main())
