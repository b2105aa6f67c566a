"""How `rag bench` shows its figures: tables for the terminal and a plot of latency and build time against size."""

from __future__ import annotations

from pathlib import Path

from .tables import text_table


def _cold_row(label: str, figures: dict, yardstick: float | None) -> list:
    if "wall_s" not in figures:
        return [label, next(iter(figures.values())), None, None]
    ratio = figures["wall_s"] / yardstick if yardstick else None
    peak = round(figures["peak_mb"]) if figures.get("peak_mb") is not None else None
    return [label, f"{figures['wall_s']:.2f}", peak, f"{ratio:.2f}" if ratio is not None else None]


def cold_table(cold: dict) -> str:
    yardstick = cold["import sentence_transformers"].get("wall_s")
    rows = [_cold_row('python -c "import sentence_transformers"', cold["import sentence_transformers"], yardstick),
            _cold_row("rag ask, built index", cold["rag ask"], yardstick),
            _cold_row("rag serve, to first /ask answer", cold["rag serve"], yardstick)]
    return text_table(["cold start", "wall s", "peak MiB", "× import"], rows)


def warm_table(warm: dict) -> str:
    rows = [["Engine.ask (k=3, full)", warm["ask_ms"]["p50"], warm["ask_ms"]["p95"]],
            ["floor: model.encode + one FAISS search", warm["floor_ms"]["p50"], warm["floor_ms"]["p95"]],
            ["ratio ask / floor (p50)", f"{warm['ratio_p50']:.2f}", None]]
    return text_table([f"warm, {warm['questions']} questions", "p50 ms", "p95 ms"], rows, digits=1)


def build_table(build: dict) -> str:
    rows = [["bare model.encode", build["bare_s"], build["bare_passages_per_s"]],
            ["IndexStore rebuild (encode, FAISS, write)", build["build_s"], build["build_passages_per_s"]],
            ["ratio rebuild / bare", f"{build['ratio']:.2f}", None],
            ["first build, with the ONNX export", build["first_build_s"], None]]
    return text_table([f"index build, {build['texts']} texts of {build['passages']} passages", "seconds",
                       "passages/s"], rows, digits=2)


def scale_tables(scale: dict) -> str:
    fidelity = scale["fidelity"]
    intro = (f"scale: synthetic corpora from {scale['pieces']} interview sentence thirds; vectors composed "
             f"(cosine to real MiniLM vectors: mean {fidelity['mean_cosine']:.2f}, p5 {fidelity['p5_cosine']:.2f}, "
             f"n={fidelity['sample']})")
    built, queried = [], []
    for row in scale["sizes"]:
        if "error" in row:
            built.append([row["size"], row["error"]] + [None] * 6)
            continue
        built.append([row["size"], row["vectors"], row["index_type"], f"{row['index_mb']:.1f}",
                      f"{row['build_s']:.1f}", f"{row['est_build_s']:.0f}", round(row["build_peak_mb"]),
                      f"{row['parse_s']:.1f}"])
        queried.append([row["size"], f"{row['load_s']:.1f}", round(row["serve_peak_mb"]), row["ask_ms"]["p50"],
                        row["ask_ms"]["p95"], row["exact_search_ms"]["p50"], row["approx_search_ms"]["p50"],
                        row["ivf_lists"], f"{row['recall@10']:.3f}"])
    first = text_table(["passages", "vectors", "index", "MiB", "build s", "est. real s", "build peak MiB",
                        "parse s"], built)
    second = text_table(["passages", "load s", "serve peak MiB", "ask p50 ms", "ask p95 ms", "exact ms",
                         "IVF ms", "IVF lists", "IVF recall@10"], queried, digits=1)
    return "\n\n".join([intro, first, second])


def format_tables(figures: dict) -> str:
    machine = figures["machine"]
    head = (f"rag bench ({figures['plan']['name']}), {figures['when']}: {machine['cpus']} CPUs, load average "
            f"{machine['load_average']:.1f} at the start; a shared machine makes timings noisy")
    return "\n\n".join([head, cold_table(figures["cold_start"]), warm_table(figures["warm"]),
                        build_table(figures["build"]), scale_tables(figures["scale"])])


def plot(figures: dict, path: Path) -> None:
    """Query latency and build time against corpus size, log-log."""
    from matplotlib.figure import Figure  # Agg canvas: no display needed

    rows = [row for row in figures["scale"]["sizes"] if "error" not in row]
    if not rows:  # every size failed: the table already says why, and there is nothing to draw
        return
    sizes = [row["size"] for row in rows]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    latency, build = figure.subplots(1, 2)
    for label, values in (("Engine.ask p50", [r["ask_ms"]["p50"] for r in rows]),
                          ("Engine.ask p95", [r["ask_ms"]["p95"] for r in rows]),
                          ("exact FAISS search p50", [r["exact_search_ms"]["p50"] for r in rows]),
                          ("IVF search p50", [r["approx_search_ms"]["p50"] for r in rows])):
        latency.plot(sizes, values, marker="o", label=label)
    latency.set(xscale="log", yscale="log", xlabel="answer passages", ylabel="milliseconds", title="Query latency")
    for label, values in (("build, composed vectors (measured)", [r["build_s"] for r in rows]),
                          ("build with real encoding (estimated)", [r["est_build_s"] for r in rows]),
                          ("engine load", [r["load_s"] for r in rows])):
        build.plot(sizes, values, marker="o", label=label)
    build.set(xscale="log", yscale="log", xlabel="answer passages", ylabel="seconds", title="Build and load time")
    for axes in (latency, build):
        axes.grid(alpha=0.3, which="both")
        axes.legend()
    figure.savefig(path, dpi=110)
