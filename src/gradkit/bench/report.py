"""What a benchmark run produces: the machine's description, one table per family (plain
text for the terminal, Markdown for docs/performance.md), JSON and a bar chart."""
import datetime
import json
import os
import platform
import sys

import numpy as np

COLUMNS = ["op", "size", "gradkit", "GB/s", "% roofline", "x NumPy", "x peer", "goal",
           "met"]


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else whatever platform says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads, torch=None):
    """Date, CPU, cores, threads, SIMD level and versions: what a figure depends on."""
    from .. import __version__, show_config
    cfg = show_config()
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "date": now.isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": cores,
        "threads": threads,
        "simd": cfg["simd"],
        "openmp": cfg["openmp"],
        "gradkit": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "compiler": cfg["compiler"],
    }


# ---- formatting ------------------------------------------------------------------------
def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _fmt(value, spec, suffix=""):
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _met(result):
    if result["error"]:
        return "error"
    return {True: "yes", False: "no", None: "-"}[result["goal_met"]]


def table_rows(results):
    """The cells of each result's row, in COLUMNS order."""
    rows = []
    for r in results:
        gk = (r["times"].get("gradkit") or {}).get("median")
        share = r["roofline_share"]
        peer = _fmt(r["x_peer"], ".2f", "x")
        if r["x_peer"] is not None:
            peer += f" {r['peer_name']}"
        rows.append([r["op"], r["size"], fmt_time(gk), _fmt(r["gbs"], ".1f"),
                     _fmt(None if share is None else 100 * share, ".0f", "%"),
                     _fmt(r["x_numpy"], ".2f", "x"), peer, r["goal"] or "-", _met(r)])
    return rows


def summary(result):
    """One line for the progress log: gradkit's time and the ratios."""
    parts = [f"gradkit {fmt_time(result['times']['gradkit']['median'])}"]
    if result["x_numpy"] is not None:
        parts.append(f"{result['x_numpy']:.2f}x NumPy")
    if result["x_peer"] is not None:
        parts.append(f"{result['x_peer']:.2f}x {result['peer_name']}")
    if result["roofline_share"] is not None:
        parts.append(f"{100 * result['roofline_share']:.0f}% roofline")
    return ", ".join(parts)


def by_family(results):
    families = {}
    for r in results:
        families.setdefault(r["family"], []).append(r)
    return families


def text_tables(results, probe, info):
    """Aligned plain-text tables, one per family, under a header with the roofline."""
    out = [_header(probe, info), ""]
    for family, rs in by_family(results).items():
        rows = [COLUMNS] + table_rows(rs)
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        out.append(f"== {family} ==")
        for k, row in enumerate(rows):
            out.append("  ".join(c.ljust(w) if i < 2 or i >= 7 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))).rstrip())
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append("")
    return "\n".join(out)


def _threads(info):
    return f"{info['threads']} thread" + ("s" if info["threads"] != 1 else "")


def _header(probe, info):
    return (f"{info['date']}  {info['cpu']}  {_threads(info)} of "
            f"{info['cores']} cores  SIMD {info['simd']}\n"
            f"gradkit {info['gradkit']}  numpy {info['numpy']}  torch {info['torch']}  "
            f"python {info['python']}\n"
            f"roofline {probe['roofline_gbs']:.1f} GB/s (scale {probe['scale_gbs']:.1f}, "
            f"copy {probe['copy_gbs']:.1f} GB/s on {probe['array_bytes'] >> 20} MiB "
            f"float64 arrays)")


def markdown(results, probe, info, note=None):
    """Markdown: the machine line, then a ``### family`` section with a table each."""
    out = []
    if note:
        out += [f"> {note}", ""]
    out += [f"Measured {info['date']} on {info['cpu']}, {_threads(info)} "
            f"({info['cores']} cores), SIMD {info['simd']}; gradkit {info['gradkit']}, "
            f"NumPy {info['numpy']}, PyTorch {info['torch']}, Python {info['python']}. "
            f"Roofline {probe['roofline_gbs']:.1f} GB/s (scale {probe['scale_gbs']:.1f} "
            f"GB/s, copy {probe['copy_gbs']:.1f} GB/s).", ""]
    for family, rs in by_family(results).items():
        out += [f"### {family}", "",
                "| " + " | ".join(COLUMNS) + " |",
                "|" + "|".join("---" if i < 2 or i >= 7 else "---:"
                               for i in range(len(COLUMNS))) + "|"]
        for row in table_rows(rs):
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        out.append("")
    return "\n".join(out)


def write_json(path, results, probe, info, settings):
    doc = {"metadata": info, "settings": settings, "roofline": probe, "results": results}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, default=repr)   # Case.extra may hold anything
        f.write("\n")


def plot(path, results, probe, info):
    """Two bar charts: time(peer)/time(gradkit) and the share of the roofline, each case
    with its goal marked.  Returns False (after saying why on stderr) when matplotlib is
    not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib, which is not installed "
              "(pip install matplotlib); no plot written", file=sys.stderr)
        return False
    ok = [r for r in results if not r["error"]]
    labels = [f"{r['family']}: {r['op']} ({r['size']})" for r in ok]
    # ratios span decades (a per-call case can be 100x, a kernel 2x): log axis
    panels = [("x_peer", "goal_ratio", "time(peer) / time(gradkit)", 1.0, "log"),
              ("roofline_share", "goal_roofline", "share of the roofline (%)", 100.0,
               "linear")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 1.0 + 0.4 * max(len(ok), 1)),
                             sharey=True, squeeze=True)
    ypos = np.arange(len(ok))
    for ax, (key, goal_key, title, factor, xscale) in zip(axes, panels):
        values = [np.nan if r[key] is None else r[key] * factor for r in ok]
        ax.set_xscale(xscale)
        ax.barh(ypos, values, color="tab:blue")
        goals = [(y, r[goal_key] * factor) for y, r in zip(ypos, ok) if r[goal_key]]
        if goals:
            ax.scatter([g for _, g in goals], [y for y, _ in goals], marker="|", s=300,
                       color="tab:red", label="goal", zorder=3)
            ax.legend(loc="best", fontsize=8)
        if xscale == "log":
            ax.axvline(1.0, color="gray", linewidth=0.8)     # parity with the peer
        ax.set_title(title)
    axes[0].set_yticks(ypos, labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"gradkit {info['gradkit']}, {info['cpu']}, {_threads(info)}, "
                 f"roofline {probe['roofline_gbs']:.1f} GB/s, {info['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
