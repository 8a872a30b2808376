"""The benchmark chart: one horizontal bar per configuration, its added cost beside the native filters', drawn
as SVG from the figures of the run (standard library only, so the bench needs no plotting package).

    python3 bench/chart.py [bench/results/e2e.json] [out.svg]
"""
import json
import sys
from html import escape
from pathlib import Path

COLOURS = {"native": "#7f7f7f", "gatehouse": "#1f77b4", "wasm floor": "#c7c7c7"}


def kind(scenario):
    """Which family a scenario belongs to, by the group the end-to-end bench gives it."""
    group = scenario.get("group", "")
    if group.startswith("native") or "jwt_authn" in scenario["name"] or "oauth2" in scenario["name"]:
        return "native"
    if group.startswith(("baseline", "wasm-floor", "router")):
        return "wasm floor"
    return "gatehouse"


def bars_svg(rows, title, unit):
    """rows: [(label, value, kind)]; one bar each, longest value the full width."""
    label_w, bar_w, row_h, top = 330, 420, 22, 44
    top_value = max((v for _, v, _ in rows), default=1) or 1
    height = top + row_h * len(rows) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, value, k) in enumerate(rows):
        y = top + i * row_h
        w = max(0.0, value) / top_value * bar_w
        out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{COLOURS[k]}"/>')
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{value:,.1f} {escape(unit)}</text>')
    legend_y = top + row_h * len(rows) + 20
    for j, (k, colour) in enumerate(COLOURS.items()):
        x = 10 + j * 150
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="{legend_y}">{escape(k)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def e2e_chart(e2e, key="added_cpu_us", unit="µs"):
    rows = [(s["name"], float(s[key]), kind(s)) for s in e2e["scenarios"]
            if isinstance(s.get(key), (int, float)) and s.get("group") != "router"]
    return bars_svg(rows, "Envoy CPU added per request over a bare router (median of the rounds)", unit)


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results" / "e2e.json")
    dst = Path(sys.argv[2] if len(sys.argv) > 2 else src.with_name("added-cost.svg"))
    dst.write_text(e2e_chart(json.loads(src.read_text())))
    print(f"wrote {dst}")
