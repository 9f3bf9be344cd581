"""Results: per-round values for both servers, their medians and ranges, ratios, tables, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVERS = ("dockyard", "reference")
TARGET_RATIO = 1.0
TARGET_RSS_MIB = 120.0


@dataclass
class Row:
    """One benchmark row: a primary metric per round for each server, plus extra per-round metrics.

    `ratio` is always Dockyard's speed over the reference's in the same round, so >= 1.0 means
    Dockyard is at least as fast: value/value for throughputs, reference/dockyard for times.
    """

    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    limit: str | None = None  # which machine limit bounds this row ("loopback", "push")
    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SERVERS})
    extra: dict[str, dict[str, list[float]]] = field(default_factory=lambda: {s: {} for s in SERVERS})

    def add(self, server: str, value: float, **extra: float) -> None:
        self.values[server].append(value)
        for name, x in extra.items():
            self.extra[server].setdefault(name, []).append(x)

    def ratios(self) -> list[float]:
        pairs = zip(self.values["dockyard"], self.values["reference"], strict=False)
        if self.higher_is_better:
            return [d / r for d, r in pairs if r]
        return [r / d for d, r in pairs if d]

    def to_json(self, limits: dict[str, float]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "ratio_rounds": self.ratios(),
            "ratio": summary(self.ratios()),
            "meets_target": bool(self.ratios()) and statistics.median(self.ratios()) >= TARGET_RATIO,
        }
        for server in SERVERS:
            entry: dict[str, Any] = {"rounds": self.values[server], **summary(self.values[server])}
            for name, xs in self.extra[server].items():
                entry[name] = {"rounds": xs, **summary(xs)}
            if self.limit and self.values[server]:
                entry["fraction_of_limit"] = statistics.median(self.values[server]) / limit_for(self, limits)
            out[server] = entry
        return out


def summary(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def limit_for(row: Row, limits: dict[str, float]) -> float:
    """A pull is bounded by loopback; a push also by hashing and by the durable disk write."""
    if row.limit == "loopback":
        return limits["loopback_mib_s"]
    return min(limits["loopback_mib_s"], limits["sha256_mib_s"], limits["disk_fsync_mib_s"])


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kib = 0
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


# ---------------------------------------------------------------------------- formatting
def _num(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if x >= 0.1 else f"{x:.3f}"


def _cell(s: dict[str, float]) -> str:
    if not s:
        return "-"
    if s["min"] == s["max"]:
        return _num(s["median"])
    return f"{_num(s['median'])} ({_num(s['min'])}-{_num(s['max'])})"


def table_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["row", "unit", "Dockyard", "reference", "ratio D/R", "of limit D / R", "target"]
    rows = []
    for row in data["rows"]:
        d, r = row["dockyard"], row["reference"]
        frac = "-"
        if "fraction_of_limit" in d:
            frac = f"{d['fraction_of_limit']:.0%} / {r['fraction_of_limit']:.0%}"
        ratio = row["ratio"]
        rows.append(
            [
                row["label"],
                row["unit"],
                _cell(summary(d["rounds"])),
                _cell(summary(r["rounds"])),
                f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "-",
                frac,
                "ok" if row["meets_target"] else "MISS",
            ]
        )
    return header, rows


def detail_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Latency percentiles of the small-request rows and peak RSS of the large-transfer rows."""
    header = [
        "row",
        "Dockyard p50/p99 ms",
        "reference p50/p99 ms",
        "Dockyard peak RSS MiB",
        "reference peak RSS",
    ]
    rows = []
    for row in data["rows"]:
        d, r = row["dockyard"], row["reference"]
        if "p50_ms" in d:
            rows.append(
                [
                    row["label"],
                    f"{d['p50_ms']['median']:.2f} / {d['p99_ms']['median']:.2f}",
                    f"{r['p50_ms']['median']:.2f} / {r['p99_ms']['median']:.2f}",
                    "-",
                    "-",
                ]
            )
        elif "peak_rss_mib" in d:
            rows.append(
                [
                    row["label"],
                    "-",
                    "-",
                    f"{_num(d['peak_rss_mib']['max'])} "
                    f"(largest process {_num(d['peak_process_rss_mib']['max'])})",
                    _num(r["peak_rss_mib"]["max"]),
                ]
            )
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def limits_lines(data: dict[str, Any]) -> list[str]:
    names = {"loopback_mib_s": "loopback (sendfile → curl)", "sha256_mib_s": "sha256 (hashlib, 1 core)"}
    names["disk_fsync_mib_s"] = "disk write + fsync"
    return [f"{names[k]}: {_cell(summary(v))} MiB/s" for k, v in data["limits"].items()]


def render(data: dict[str, Any], markdown: bool = False) -> str:
    fmt = markdown_table if markdown else text_table
    m = data["machine"]
    parts = [
        f"machine: {m['nproc']} CPUs, {m['cpu_model']}, kernel {m['kernel']}, {m['memory_gib']} GiB RAM, "
        f"load average at start {', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}",
        f"config: {data['config']}",
        "",
        "limits (median (min-max) over rounds): " + "; ".join(limits_lines(data)),
        "",
        fmt(*table_rows(data)),
        "",
        fmt(*detail_rows(data)),
        "",
        "values: median (min-max) over rounds; ratio: Dockyard speed / reference speed per round "
        f"(target ≥ {TARGET_RATIO:.1f}); peak RSS: max over rounds, whole server process tree "
        f"(target ≤ {TARGET_RSS_MIB:.0f} MiB)",
    ]
    misses = [row["label"] for row in data["rows"] if not row["meets_target"]]
    parts.append("rows below target: " + (", ".join(misses) if misses else "none"))
    rss = [row for row in data["rows"] if "peak_rss_mib" in row["dockyard"]]
    if rss:
        peak = max(row["dockyard"]["peak_rss_mib"]["max"] for row in rss)
        verdict = "meets" if peak <= TARGET_RSS_MIB else "misses"
        parts.append(f"Dockyard peak RSS during large transfers: {peak:.0f} MiB ({verdict} the target)")
    return "\n".join(parts)


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
