"""Benchmark Dockyard against the reference registry (Debian's docker-registry), same client, same run.

    make bench                              # 3 rounds, 1 GiB blobs (about 15 minutes)
    .venv/bin/python bench/run.py --quick   # smoke run: 1 round, 64 MiB blobs, short wrk runs

Both servers run at once on loopback, each with its own temporary data dir; every row is measured
on one, then the other (the order alternates per round), for several rounds. Results go to the
terminal and to bench/results/latest.json (and latest.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clients
import limits
import loadgen
import report
from clients import MIB, BlobSource, ImageClient, RawConnection
from report import Row
from servers import RssSampler, Server, require_tools, start_dockyard, start_reference

BENCH_DIR = Path(__file__).resolve().parent
CHUNK = 16 * MIB
LARGE_REPO, SMALL_REPO, IMAGE_REPO = "bench/large", "bench/small", "bench/image"
SECTIONS = ("large", "small", "image")
SMALL_REQUESTS = [
    ("base", "GET", "GET /v2/"),
    ("head_blob", "HEAD", "HEAD blob"),
    ("get_manifest", "GET", "GET manifest by tag"),
]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, help="rounds per row (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="short smoke run: 64 MiB blobs, 1 round, 1 s wrk")
    p.add_argument("--blob-mib", type=int, help="large blob size in MiB (default 1024; 64 with --quick)")
    p.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (default 5; 1 with --quick)")
    p.add_argument("--layers", type=int, help="layers of the image rows (default 200; 50 with --quick)")
    p.add_argument("--dockyard-workers", type=int, default=1, help="Dockyard server processes (default 1)")
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma-separated subset of large,small,image"
    )
    p.add_argument("--workdir", default=tempfile.gettempdir(), help="where the temporary data dirs go")
    p.add_argument("--output", type=Path, default=BENCH_DIR / "results" / "latest.json")
    args = p.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.blob_mib = args.blob_mib or (64 if quick else 1024)
    args.wrk_seconds = args.wrk_seconds or (1 if quick else 5)
    args.layers = args.layers or (50 if quick else 200)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.blob_size = args.blob_mib * MIB
        self.rows: dict[str, Row] = {}
        self.limits: dict[str, list[float]] = {}
        self.source: BlobSource | None = None
        self.servers: list[Server] = []
        self.pull_blob: dict[str, clients.Blob] = {}
        self.small: dict[str, clients.Image] = {}

    def row(self, key: str, label: str, unit: str, **kw: Any) -> Row:
        if key not in self.rows:
            self.rows[key] = Row(key, label, unit, **kw)
        return self.rows[key]

    # ------------------------------------------------------------------ setup
    def start(self) -> None:
        log(f"writing a {self.args.blob_mib} MiB random source file ...")
        self.source = BlobSource(self.workdir / "source.bin", self.blob_size)
        log("starting the servers ...")
        self.servers = [
            start_dockyard(self.workdir, self.args.dockyard_workers),
            start_reference(self.workdir),
        ]
        for server in self.servers:
            for repo in (LARGE_REPO, SMALL_REPO, IMAGE_REPO):
                server.ensure_repo(repo)
            log(f"  {server.name}: {server.base_url} (pid {server.pid}, data {server.data_dir})")
            if "large" in self.args.sections:
                self.setup_large(server)
            if "small" in self.args.sections:
                self.setup_small(server)

    def setup_large(self, server: Server) -> None:
        assert self.source is not None
        blob = self.source.blob()
        conn = RawConnection(server.base_url, server.headers())
        clients.push_monolithic(conn, LARGE_REPO, self.source, blob)
        clients.pull_verify(conn, LARGE_REPO, blob)
        conn.close()
        self.pull_blob[server.name] = blob

    def setup_small(self, server: Server) -> None:
        image = clients.make_image(1)
        clients.time_image_op(
            server.base_url, server.headers(), 1, lambda c: c.push(SMALL_REPO, "latest", image)
        )
        self.small[server.name] = image

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    # ------------------------------------------------------------------ rounds
    def run(self) -> None:
        for n in range(1, self.args.rounds + 1):
            order = self.servers if n % 2 else list(reversed(self.servers))
            log(f"round {n}/{self.args.rounds} (order: {', '.join(s.name for s in order)})")
            self.measure_limits()
            if "large" in self.args.sections:
                self.large_round(order)
            if "small" in self.args.sections:
                self.small_round(order)
            if "image" in self.args.sections:
                self.image_round(order, n)

    def measure_limits(self) -> None:
        assert self.source is not None
        found = limits.measure(self.source.path, self.workdir, min(self.blob_size, 1024 * MIB))
        for key, value in found.items():
            self.limits.setdefault(key, []).append(value)
        log("  limits: " + ", ".join(f"{k} {v:.0f}" for k, v in found.items()))

    def record(self, row: Row, server: Server, value: float, **extra: float) -> None:
        row.add(server.name, value, **extra)
        details = "".join(f", {k} {v:.2f}" for k, v in extra.items())
        log(f"  {row.label:<34} {server.name:<9} {value:10.2f} {row.unit}{details}")

    # ------------------------------------------------------------------ large blobs
    def large_round(self, order: list[Server]) -> None:
        size_mib = self.blob_size / MIB
        rows: list[tuple[Row, int, Callable[[Server], list[str]]]] = [
            (self.row("pull_1", "blob pull, 1 stream", "MiB/s", limit="loopback"), 1, self.pull(1)),
            (self.row("pull_4", "blob pull, 4 parallel", "MiB/s", limit="loopback"), 4, self.pull(4)),
            (self.row("push_mono", "blob push, monolithic", "MiB/s", limit="push"), 1, self.push_mono),
            (
                self.row("push_chunked", "blob push, 16 MiB chunks", "MiB/s", limit="push"),
                1,
                self.push_chunked,
            ),
            (self.row("push_4", "blob push, 4 parallel", "MiB/s", limit="push"), 4, self.push_parallel),
        ]
        for row, streams, action in rows:
            for server in order:
                os.sync()  # start each transfer with no writeback of the previous one pending
                with RssSampler(server.pid) as rss:
                    start = time.perf_counter()
                    pushed = action(server)
                    elapsed = time.perf_counter() - start
                for digest in pushed:
                    server.discard_blob(digest)
                self.record(
                    row,
                    server,
                    streams * size_mib / elapsed,
                    peak_rss_mib=rss.peak_tree_mib,
                    peak_process_rss_mib=rss.peak_process_mib,
                )

    def pull(self, parallel: int) -> Callable[[Server], list[str]]:
        def action(server: Server) -> list[str]:
            blob = self.pull_blob[server.name]
            url = f"{server.base_url}/v2/{LARGE_REPO}/blobs/{blob.digest}"
            clients.curl_pull(url, server.headers(), blob.size, parallel)
            return []

        return action

    def push_mono(self, server: Server) -> list[str]:
        assert self.source is not None
        blob = self.source.blob()
        conn = RawConnection(server.base_url, server.headers())
        clients.push_monolithic(conn, LARGE_REPO, self.source, blob)
        conn.close()
        return [blob.digest]

    def push_chunked(self, server: Server) -> list[str]:
        assert self.source is not None
        blob = self.source.blob()
        conn = RawConnection(server.base_url, server.headers())
        clients.push_chunked(conn, LARGE_REPO, self.source, blob, CHUNK)
        conn.close()
        return [blob.digest]

    def push_parallel(self, server: Server) -> list[str]:
        digests: list[str] = []
        clients.in_threads([lambda: digests.extend(self.push_mono(server)) for _ in range(4)])
        return digests

    # ------------------------------------------------------------------ small requests
    def small_round(self, order: list[Server]) -> None:
        for connections in (1, 64):
            for key, method, what in SMALL_REQUESTS:
                row = self.row(f"{key}_c{connections}", f"{what}, {connections} conn", "req/s")
                for server in order:
                    headers = {**server.headers(), "Accept": clients.MANIFEST_ACCEPT}
                    url = server.base_url + self.small_path(key, server)
                    result: clients.WrkResult | loadgen.LoadResult
                    if method == "HEAD":  # wrk cannot do HEAD (it waits for a body)
                        result = loadgen.run_load(url, method, headers, connections, self.args.wrk_seconds)
                    else:
                        result = clients.run_wrk(
                            url, method, headers, connections, self.args.wrk_seconds, self.workdir
                        )
                    self.record(row, server, result.rps, p50_ms=result.p50_ms, p99_ms=result.p99_ms)

    def small_path(self, key: str, server: Server) -> str:
        if key == "base":
            return "/v2/"
        if key == "head_blob":
            return f"/v2/{SMALL_REPO}/blobs/{self.small[server.name].layer_digests[0]}"
        return f"/v2/{SMALL_REPO}/manifests/latest"

    # ------------------------------------------------------------------ 200-layer image
    def image_round(self, order: list[Server], n: int) -> None:
        layers = self.args.layers
        for c in (1, 8):
            image = clients.make_image(layers)
            tag, target = f"r{n}-c{c}", f"bench/mount-r{n}-c{c}"
            for server in order:
                server.ensure_repo(target)
            ops: list[tuple[str, str, Callable[..., Awaitable[None]]]] = [
                ("push", f"image push ({layers} layers), c{c}", partial(ImageClient.push, repo=IMAGE_REPO)),
                ("pull", f"image pull, c{c}", partial(ImageClient.pull, repo=IMAGE_REPO)),
                ("repush", f"image re-push (HEAD hits), c{c}", partial(ImageClient.repush, repo=IMAGE_REPO)),
                (
                    "mount",
                    f"image cross-repo mount, c{c}",
                    partial(ImageClient.mount, repo=target, source_repo=IMAGE_REPO),
                ),
            ]
            for name, label, op in ops:
                row = self.row(f"image_{name}_c{c}", label, "s", higher_is_better=False)
                for server in order:
                    work = partial(op, tag=tag, image=image)
                    seconds = clients.time_image_op(server.base_url, server.headers(), c, work)
                    self.record(row, server, seconds)

    # ------------------------------------------------------------------ results
    def results(self, started: float) -> dict[str, Any]:
        medians = {k: report.summary(v)["median"] for k, v in self.limits.items()}
        return {
            "machine": report.machine(),
            "config": {
                "rounds": self.args.rounds,
                "blob_mib": self.args.blob_mib,
                "chunk_mib": CHUNK // MIB,
                "wrk_seconds": self.args.wrk_seconds,
                "layers": self.args.layers,
                "dockyard_workers": self.args.dockyard_workers,
                "sections": self.args.sections,
            },
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "limits": self.limits,
            "rows": [row.to_json(medians) for row in self.rows.values()],
        }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    require_tools("curl", "wrk", "docker-registry")
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-", dir=args.workdir))
    free_gib = shutil.disk_usage(workdir).free / 2**30
    need_gib = 4 * args.blob_mib / 1024  # the source file, the pull blobs and one blob in flight per stream
    if free_gib < need_gib + 1:
        sys.exit(f"{workdir}: {free_gib:.1f} GiB free, need about {need_gib + 1:.1f}")
    # A plain `kill` should still stop the servers and remove the data dirs (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    bench = Bench(args, workdir)
    try:
        bench.start()
        bench.run()
    finally:
        bench.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    data = bench.results(started)
    report.write_json(data, args.output)
    args.output.with_suffix(".md").write_text(report.render(data, markdown=True) + "\n")
    print(report.render(data))
    print(f"\nwrote {args.output} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
