"""What a benchmark run produces: the machine's description, one table per family (plain
text for the terminal, Markdown for docs/performance.md), JSON and a bar chart."""
import datetime
import json
import os
import platform
import sys

import numpy as np

COLUMNS = ["op", "size", "gradkit", "out=", "limit", "% limit", "% limit out=",
           "x NumPy", "x unfused", "x peer", "x peer warm", "goal", "met"]
_LEFT = {0, 1, 11, 12}          # columns aligned left


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


def _version(module):
    try:
        return __import__(module).__version__
    except Exception:
        return None


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
        "simd_tables": cfg.get("simd_compiled"),
        "openmp": cfg["openmp"],
        "alias_avoidance": cfg.get("alias_avoidance"),
        "gradkit": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "sklearn": _version("sklearn"),
        "scipy": _version("scipy"),
        "python": platform.python_version(),
        "libc": " ".join(platform.libc_ver()).strip() or None,
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


def _pct(share):
    return _fmt(None if share is None else 100 * share, ".0f", "%")


def missing_peer(result):
    """What the table says where a case has no peer: "no torch" when torch is not
    installed, "no peer" when none exists."""
    name = result["peer_name"]
    return name if name.startswith("no ") else "no " + name.split()[0]


def _peer(result):
    if result["times"].get("peer") is None:
        return "-" if result["error"] else missing_peer(result)
    return f"{result['x_peer']:.2f}x {result['peer_name']}"


def _peer_warm(result):
    how = result.get("warm_how")
    if result["x_peer_warm"] is not None:
        return f"{result['x_peer_warm']:.2f}x" + ("" if how == "warm heap" else f" ({how})")
    if result["times"].get("peer") is None:
        return "-" if result["error"] else missing_peer(result)
    return how or "-"


def _median(result, name):
    return (result["times"].get(name) or {}).get("median")


def table_rows(results):
    """The cells of each result's row, in COLUMNS order."""
    rows = []
    for r in results:
        rows.append([r["op"], r["size"], fmt_time(_median(r, "gradkit")),
                     fmt_time(_median(r, "gradkit_out")), fmt_time(_median(r, "limit")),
                     _pct(r["limit_share"]), _pct(r["limit_share_out"]),
                     _fmt(r["x_numpy"], ".2f", "x"), _fmt(r.get("x_unfused"), ".2f", "x"),
                     _peer(r), _peer_warm(r),
                     r["goal"] or "-", _met(r)])
    return rows


def summary(result):
    """One line for the progress log: gradkit's time and the ratios."""
    parts = [f"gradkit {fmt_time(_median(result, 'gradkit'))}"]
    if result["limit_share"] is not None:
        parts.append(f"{100 * result['limit_share']:.0f}% of limit")
    if result["limit_share_out"] is not None:
        parts.append(f"{100 * result['limit_share_out']:.0f}% with out=")
    if result["x_numpy"] is not None:
        parts.append(f"{result['x_numpy']:.2f}x NumPy")
    if result.get("x_unfused") is not None:
        parts.append(f"{result['x_unfused']:.2f}x "
                     f"{result.get('unfused_name', 'unfused')} gradkit")
    if result["x_peer"] is not None:
        parts.append(f"{result['x_peer']:.2f}x {result['peer_name']}")
    if result["x_peer_warm"] is not None:
        parts.append(f"{result['x_peer_warm']:.2f}x warm ({result['warm_how']})")
    faults = result.get("faults") or {}
    if faults.get("peer"):
        parts.append(f"peer {faults['peer']:.0f} faults/call")
    return ", ".join(parts)


def by_family(results):
    families = {}
    for r in results:
        families.setdefault(r["family"], []).append(r)
    return families


def _aligned(rows, left):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for k, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i in left else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _md_table(rows, left):
    out = ["| " + " | ".join(rows[0]) + " |",
           "|" + "|".join("---" if i in left else "---:" for i in range(len(rows[0]))) + "|"]
    for row in rows[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return out


def text_tables(results, probe, info):
    """Aligned plain-text tables, one per family, under the machine's header."""
    out = [_header(probe, info), ""]
    for family, rs in by_family(results).items():
        out.append(f"== {family} ==")
        out += _aligned([COLUMNS] + table_rows(rs), _LEFT)
        out.append("")
    return "\n".join(out)


def _threads(info):
    return f"{info['threads']} thread" + ("s" if info["threads"] != 1 else "")


def _versions(info):
    return (f"gradkit {info['gradkit']}, NumPy {info['numpy']}, PyTorch "
            f"{info['torch'] or 'not installed'}, scikit-learn "
            f"{info.get('sklearn') or 'not installed'}, SciPy "
            f"{info.get('scipy') or 'not installed'}, Python {info['python']}, "
            f"{info.get('compiler')}, {info.get('libc') or 'no glibc'}")


def _roofline(probe):
    return (f"STREAM roofline (information, not scored) {probe['roofline_gbs']:.1f} GB/s "
            f"(scale {probe['scale_gbs']:.1f}, copy {probe['copy_gbs']:.1f} GB/s on "
            f"{probe['array_bytes'] >> 20} MiB float64 arrays)")


def _pools(info):
    pools = info.get("idle_pools") or {}
    return ("thread pools stop spinning after: " + ", ".join(
        f"{k}={'default' if v is None else v}" for k, v in pools.items())) if pools else ""


def _header(probe, info):
    pools = _pools(info)
    return (f"{info['date']}  {info['cpu']}  {_threads(info)} of "
            f"{info['cores']} cores  SIMD {info['simd']} ({info.get('simd_tables')})\n"
            f"{_versions(info)}\n{_roofline(probe)}" + (f"\n{pools}" if pools else ""))


def markdown(results, probe, info, note=None, points=None):
    """Markdown: the machine line, then a ``### family`` section with a table each, then
    the sweep's tables when there is one."""
    out = []
    if note:
        out += [f"> {note}", ""]
    pools = _pools(info)
    out += [f"Measured {info['date']} on {info['cpu']}, {_threads(info)} "
            f"({info['cores']} cores), SIMD {info['simd']} (tables: "
            f"{info.get('simd_tables')}); {_versions(info)}. {_roofline(probe)}."
            + (f" The {pools}." if pools else ""), ""]
    for family, rs in by_family(results).items():
        out += [f"### {family}", ""]
        out += _md_table([COLUMNS] + table_rows(rs), _LEFT)
        out.append("")
    if points:
        out += sweep_markdown(points)
    return "\n".join(out)


def write_json(path, results, probe, info, settings, points=None):
    doc = {"metadata": info, "settings": settings, "roofline": probe, "results": results,
           "sweep": points}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, default=repr)   # Case.extra may hold anything
        f.write("\n")


# ---- the sweep -------------------------------------------------------------------------
def _size_label(n):
    e = len(str(n)) - 1
    return f"1e{e}" if n == 10 ** e else str(n)


def scored_share(result):
    """The share of the limit a goal is scored on: the worse of gradkit with its
    cache and with out=."""
    shares = [s for s in (result["limit_share"], result["limit_share_out"]) if s is not None]
    return min(shares) if shares else None


def sweep_rows(points, threads):
    """One row per kernel: its name, then per size "share of limit / x warm peer"."""
    pts = [p for p in points if p["threads"] == threads]
    sizes = sorted({p["n"] for p in pts})
    kernels = list(dict.fromkeys((p["family"], p["op"]) for p in pts))
    cell = {(p["family"], p["op"], p["n"]): p for p in pts}
    rows = [["kernel"] + [_size_label(n) for n in sizes] + [f"limit goal from {_size_label(GOAL_FROM)}"]]
    for fam, op in kernels:
        row = [f"{fam}: {op}"]
        row_pts = [p for p in pts if (p["family"], p["op"]) == (fam, op)]
        for n in sizes:
            p = cell.get((fam, op, n))
            if p is None:
                row.append("")
            elif p["error"]:
                row.append("error")
            else:
                share = scored_share(p)
                text = _pct(share)
                if p["x_peer_warm"] is not None:
                    text += f" / {p['x_peer_warm']:.2f}x"
                row.append(text)
        row.append(_sweep_goal(row_pts))
        rows.append(row)
    return rows


GOAL_FROM = 10 ** 5     # the limit goal holds from this size up (smaller: call overhead)


def _sweep_goal(points):
    """"yes" when every point from GOAL_FROM elements up meets its limit goal, "no"
    naming the sizes that miss it, "-" without a goal or such points."""
    pts = [p for p in points if p["n"] >= GOAL_FROM and p["goal_limit"] is not None]
    if not pts:
        return "-"
    missed = [_size_label(p["n"]) for p in pts
              if p["error"] or scored_share(p) is None or scored_share(p) < p["goal_limit"]]
    return "yes" if not missed else "no (" + ", ".join(missed) + ")"


def _sweep_threads(points):
    return sorted({p["threads"] for p in points})


def sweep_text(points):
    out = []
    for t in _sweep_threads(points):
        out.append(f"== sweep, {t} thread{'s' if t != 1 else ''}: % of limit (worse of "
                   "cache/out=) / x warm peer ==")
        rows = sweep_rows(points, t)
        out += _aligned(rows, {0, len(rows[0]) - 1})
        out.append("")
    return "\n".join(out)


def sweep_markdown(points):
    out = []
    for t in _sweep_threads(points):
        out += [f"### Sweep, {t} thread{'s' if t != 1 else ''}", "",
                "Each cell: share of the limit (the worse of gradkit with its cache and "
                "with out=) / time(warm peer) / time(gradkit out=); the last column: "
                f"whether every size from {_size_label(GOAL_FROM)} up meets the limit goal.",
                ""]
        rows = sweep_rows(points, t)
        out += _md_table(rows, {0, len(rows[0]) - 1})
        out.append("")
    return out


# ---- plots -----------------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib, which is not installed "
              "(pip install matplotlib); no plot written", file=sys.stderr)
        return None
    return plt


def plot(path, results, probe, info, points=None):
    """With a sweep: time and % of limit against size, one pair of panels per kernel;
    else bar charts of the table.  Returns False (after saying why on stderr) when
    matplotlib is not installed."""
    plt = _pyplot()
    if plt is None:
        return False
    if points:
        fig = _sweep_figure(plt, points, info)
    else:
        fig = _bars_figure(plt, results, probe, info)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


_SERIES = [("gradkit", "gradkit", "tab:blue"), ("gradkit_out", "gradkit out=", "tab:cyan"),
           ("limit", "limit (probe)", "black"), ("peer", "peer", "tab:red"),
           ("peer_warm", "peer warm", "tab:orange"), ("numpy", "NumPy", "tab:green")]
_STYLES = ["--", "-", ":", "-."]


def _sweep_figure(plt, points, info):
    kernels = list(dict.fromkeys((p["family"], p["op"]) for p in points))
    threads = _sweep_threads(points)
    ncol = 4
    nrow = -(-len(kernels) // ncol)
    fig, axes = plt.subplots(2 * nrow, ncol, figsize=(4.2 * ncol, 5.0 * nrow),
                             squeeze=False)
    for k, (fam, op) in enumerate(kernels):
        ax_t, ax_s = axes[2 * (k // ncol)][k % ncol], axes[2 * (k // ncol) + 1][k % ncol]
        for ti, t in enumerate(threads):
            pts = sorted((p for p in points if (p["family"], p["op"]) == (fam, op)
                          and p["threads"] == t and not p["error"]), key=lambda p: p["n"])
            style = _STYLES[ti % len(_STYLES)]
            xs = [p["elements"] or p["n"] for p in pts]
            for key, label, color in _SERIES:
                ys = [_median(p, key) for p in pts]
                xy = [(x, y) for x, y in zip(xs, ys) if y is not None]
                if xy:
                    ax_t.plot(*zip(*xy), style, color=color, marker=".",
                              label=f"{label}, {t} thr")
            for key, label, color in (("limit_share", "gradkit", "tab:blue"),
                                      ("limit_share_out", "gradkit out=", "tab:cyan")):
                xy = [(x, 100 * p[key]) for x, p in zip(xs, pts) if p[key] is not None]
                if xy:
                    ax_s.plot(*zip(*xy), style, color=color, marker=".",
                              label=f"{label}, {t} thr")
        ax_t.set(xscale="log", yscale="log", title=f"{fam}: {op}", ylabel="s per call")
        ax_t.title.set_fontsize(8)
        ax_s.set(xscale="log", xlabel="elements", ylabel="% of limit")
        ax_s.axhline(85, color="gray", linewidth=0.8)
        ax_s.set_ylim(0, 120)
        if k == 0:
            ax_t.legend(fontsize=5)
            ax_s.legend(fontsize=5)
    for k in range(len(kernels), nrow * ncol):
        axes[2 * (k // ncol)][k % ncol].axis("off")
        axes[2 * (k // ncol) + 1][k % ncol].axis("off")
    fig.suptitle(f"gradkit {info['gradkit']}, {info['cpu']}, {info['date']}; "
                 "line style: threads", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (5.0 * nrow)))    # room for the title
    return fig


def _bars_figure(plt, results, probe, info):
    """Two bar charts: time(warm peer)/time(gradkit) and the share of the limit, each
    case with its goal marked."""
    ok = [r for r in results if not r["error"]]
    labels = [f"{r['family']}: {r['op']} ({r['size']})" for r in ok]
    for r in ok:
        r["_share"] = scored_share(r)
    # ratios span decades (a per-call case can be 100x, a kernel 2x): log axis
    panels = [("x_peer_warm", "goal_ratio", "time(warm peer) / time(gradkit)", 1.0, "log"),
              ("_share", "goal_limit", "share of the limit (%)", 100.0, "linear")]
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
    for r in ok:
        del r["_share"]
    axes[0].set_yticks(ypos, labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"gradkit {info['gradkit']}, {info['cpu']}, {_threads(info)}, "
                 f"{info['date']}", fontsize=9)
    fig.tight_layout()
    return fig
