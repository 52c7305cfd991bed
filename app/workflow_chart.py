"""A workflow view (``deeplog_core.workflow.WorkflowView``) drawn with plotly, with one
session's overlay (``Overlay.project(view)``) on it. Pure: no streamlit here.

Left to right by the view's layers (its x, y). Edges are lines whose width grows with
their probability, labelled with it; back edges curve below, edges that skip layers arc
above; a self-loop is a "↻ p" badge over its node. Groups are blue hexagons, merged
chains lighter squares, rare nodes and transitions grey. With an overlay: the session's
path in blue (traversed edges thicker, "×n" when taken several times), transitions off
the workflow red dashed, keys the view lacks as red-bordered nodes in a row below, the
last normal node orange, the unexpected key (or END) red, and the expected keys with
green dashed arrows from the last normal node, labelled with their probabilities.

Every node trace carries the node ids in ``customdata`` (``node_at`` reads a click).
"""

from __future__ import annotations

from typing import Optional

import plotly.graph_objects as go

from deeplog_core.workflow import END, START

NODE, BORDER, TEXT = "#ffffff", "#455a64", "#263238"
GROUP_FILL, GROUP_BORDER = "#e3ecff", "#1e55c8"
CHAIN_FILL, CHAIN_BORDER = "#f3f5f6", "#90a4ae"
TERMINAL = "#37474f"
RARE = "#b0b0b0"
EDGE = "#78909c"
PATH = "#1565c0"        # the session's path
OFF = "#d32f2f"         # off the workflow / the unexpected key
LAST_NORMAL = "#fb8c00"
EXPECTED = "#2e7d32"
SIZE = 30


def _bezier(p0, p1, bend: float, samples: int = 24):
    """Points of a quadratic curve from p0 to p1, its control point `bend` times the
    distance off the midpoint, to the left of the direction of travel (so a
    right-to-left edge bends down, a left-to-right one up)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    dist = (dx * dx + dy * dy) ** 0.5 or 1.0
    cx, cy = (x0 + x1) / 2 - dy / dist * bend * dist, (y0 + y1) / 2 + dx / dist * bend * dist
    ts = [i / (samples - 1) for i in range(samples)]
    xs = [(1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1 for t in ts]
    ys = [(1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1 for t in ts]
    return xs, ys


def _at(xs, ys, t: float):
    i = min(len(xs) - 1, max(0, round(t * (len(xs) - 1))))
    return xs[i], ys[i]


def _html(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>"))


def _p(p: float) -> str:
    return f"{p:.2f}" if p >= 0.005 else "<0.01"


def _name(n: str) -> str:
    return {START: "START", END: "END"}.get(n, n)


def _placement(view, projection) -> dict:
    """Positions of the overlay's keys the view lacks: a row under the graph, each near
    the node the session came from (the last normal node for the unexpected key)."""
    G = view.graph
    pos = {n: (d["x"], -d["y"]) for n, d in G.nodes(data=True)}
    extra = [n for n in projection.get("unknown", []) if n not in pos]
    if not extra:
        return {}
    xs = sorted({p[0] for p in pos.values()})
    unit = min((b - a for a, b in zip(xs, xs[1:])), default=0.3) or 0.3
    row = min(p[1] for p in pos.values()) - 1.1 * unit
    path = projection.get("path", [])
    dv = projection.get("divergence") or {}
    want = {}
    for n in extra:
        anchor = dv.get("last_normal") if n == dv.get("key") else None
        if anchor not in pos:
            i = path.index(n) if n in path else 0
            anchor = next((p for p in reversed(path[:i]) if p in pos), START)
        want[n] = pos.get(anchor, (xs[0], 0.0))[0] + 0.5 * unit
    out, last = {}, None
    for n in sorted(extra, key=lambda n: (want[n], path.index(n) if n in path else 0)):
        x = want[n] if last is None else max(want[n], last + 0.8 * unit)
        out[n], last = (x, row), x
    return out


def view_figure(view, projection: Optional[dict] = None, *, height: Optional[int] = None,
                arrows: int = 3) -> go.Figure:
    """The view as a plotly figure; `projection` (``Overlay.project(view)``) draws a
    session on it, with green arrows to the `arrows` most likely expected nodes (the
    others are listed under the last normal node)."""
    G = view.graph
    proj = projection or {}
    pos = {n: (float(d["x"]), -float(d["y"])) for n, d in G.nodes(data=True)}
    extra = _placement(view, proj) if proj else {}
    pos_all = {**pos, **extra}
    dv = proj.get("divergence") or {}
    last, bad = dv.get("last_normal"), dv.get("key")
    visits = proj.get("visits", {})
    taken = {(t["source"], t["target"]): t for t in proj.get("traversals", [])}
    expected: dict = {}
    for e in dv.get("expected", []):
        expected.setdefault(e["node"], []).append(e)
    fig = go.Figure()
    badges: dict[str, list[tuple[str, str]]] = {}  # notes under a node: (text, colour)

    def label(xs, ys, text, hover, color, t=0.5):
        x, y = _at(xs, ys, t)
        fig.add_annotation(x=x, y=y, xref="x", yref="y", text=_html(text) if text else "",
                           showarrow=False, font=dict(size=10, color=color), hovertext=hover,
                           bgcolor="rgba(255,255,255,0.85)" if text else None, borderpad=1)

    def arrow(xs, ys, color, width=1.5):
        (x0, y0), (x1, y1) = _at(xs, ys, 0.6), _at(xs, ys, 0.68)
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                           text="", showarrow=True, arrowhead=2, arrowsize=1.3,
                           arrowwidth=max(1.5, 0.35 * width), arrowcolor=color)

    def bend_of(u, v, back=False):
        if back:
            return 0.35
        du = abs(G.nodes[v]["layer"] - G.nodes[u]["layer"]) if u in G and v in G else 1
        return 0.0 if du == 1 else 0.3 if du == 0 else 0.1 + 0.06 * du

    # the workflow's edges
    for u, v, d in G.edges(data=True):
        p, rare = float(d["probability"]), bool(d.get("rare"))
        t = taken.get((u, v))
        on_path = t is not None and t.get("in_graph")
        diverged = (u, v) == (last, bad) and dv.get("reason") != "unknown_key"
        color = OFF if diverged else PATH if on_path else RARE if rare else EDGE
        text = _p(p) + (f" ×{t['count']}" if on_path and t["count"] > 1 else "")
        hover = (f"{_name(u)} → {_name(v)}<br>probability {p:.3f} · {d['count']:,} times"
                 + (" · rare" if rare else "") + (f"<br>this session: ×{t['count']}" if t else ""))
        if u == v:
            badges.setdefault(u, []).append((f"↻ {text}", color))
            continue
        xs, ys = _bezier(pos[u], pos[v], bend_of(u, v, d.get("back")))
        width = 1 + 7 * p + (3 if on_path or diverged else 0)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 name=f"{'path' if on_path else 'edge'}:{u}→{v}",
                                 line=dict(color=color, width=width, dash="dot" if rare else "solid")))
        arrow(xs, ys, color, width)
        label(xs, ys, text, hover, color)

    # the session's transitions the view lacks
    for (u, v), t in taken.items():
        if t.get("in_graph") or u not in pos_all or v not in pos_all:
            continue
        diverged = (u, v) == (last, bad)
        text = f"×{t['count']}" if t["count"] > 1 else ""
        hover = f"{_name(u)} → {_name(v)}<br>not in the normal workflow<br>this session: ×{t['count']}"
        if u == v:
            badges.setdefault(u, []).append((f"↻ ×{t['count']}", OFF))
            continue
        xs, ys = _bezier(pos_all[u], pos_all[v], 0.0 if (u in pos) != (v in pos) else 0.2)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 name=f"off:{u}→{v}",
                                 line=dict(color=OFF, width=4 if diverged else 2.5, dash="dash")))
        arrow(xs, ys, OFF)
        label(xs, ys, text, hover, OFF, t=0.4)

    # what was expected at the divergence
    unplaced = []
    for rank, (node, items) in enumerate(expected.items()):
        text = "expected " + ", ".join(f"{_name(e['key'])} {_p(e['probability'])}" for e in items)
        if node not in pos_all or rank >= arrows:
            unplaced.extend(items)
        elif node == last or last not in pos_all:
            badges.setdefault(node, []).append((text, EXPECTED))
        else:
            xs, ys = _bezier(pos_all[last], pos_all[node], -0.25 if node in pos else 0.1)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                     name=f"expected:{last}→{node}",
                                     line=dict(color=EXPECTED, width=2, dash="dash")))
            arrow(xs, ys, EXPECTED)
            label(xs, ys, text, f"{_name(last)} → {_name(node)}<br>{text}", EXPECTED, t=0.62)
    if unplaced and last in pos_all:
        badges.setdefault(last, []).append(
            ("also expected " + ", ".join(f"{_name(e['key'])} {_p(e['probability'])}" for e in unplaced),
             EXPECTED))

    def text_of(n, name):
        notes = "".join(f'<br><span style="color:{c}">{_html(t)}</span>' for t, c in badges.get(n, []))
        return _html(name) + notes

    # nodes
    def node_style(n, d):
        kind = d.get("kind", "key")
        if kind in ("start", "end"):
            fill, border, symbol = TERMINAL, TERMINAL, "circle"
        elif kind == "group":
            fill, border, symbol = GROUP_FILL, GROUP_BORDER, "hexagon"
        elif kind == "chain":
            fill, border, symbol = CHAIN_FILL, CHAIN_BORDER, "square"
        else:
            fill, border, symbol = NODE, BORDER, "square"
        width = 2
        if d.get("rare"):
            border = RARE
        if n in visits:
            border, width = PATH, 4
        if n in expected and n != last:
            border, width = EXPECTED, 4
        if n == last:
            fill = LAST_NORMAL
        if n == bad:
            fill, border, width = OFF, OFF, 4
        return fill, border, width, symbol

    def hover_of(n, d):
        if d.get("kind") in ("start", "end"):
            text = f"{_name(n)}: {d.get('detail', '')}<br>{d.get('count', 0):,} sessions"
        else:
            text = (f"{_html(d.get('detail', n))}<br>entered {d.get('count', 0):,} times · "
                    f"{d.get('sessions', 0):,} sessions")
        if n in visits:
            text += f"<br>this session: {visits[n]} visit{'s' if visits[n] != 1 else ''}"
        if n == last:
            text += "<br><b>last normal step</b>"
        if n == bad:
            text += "<br><b>unexpected here</b>"
        return text

    nodes = list(G.nodes)
    styles = [node_style(n, G.nodes[n]) for n in nodes]
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers+text",
        text=[text_of(n, G.nodes[n].get("label", _name(n))) for n in nodes], textposition="bottom center",
        textfont=dict(size=12, color=[RARE if G.nodes[n].get("rare") else TEXT for n in nodes]),
        hovertext=[hover_of(n, G.nodes[n]) for n in nodes], hoverinfo="text", customdata=nodes,
        marker=dict(size=[SIZE + 6 if G.nodes[n].get("kind") == "group" else SIZE for n in nodes],
                    color=[s[0] for s in styles], symbol=[s[3] for s in styles], opacity=1,
                    line=dict(color=[s[1] for s in styles], width=[s[2] for s in styles])),
        unselected=dict(marker=dict(opacity=1), textfont=dict(color=TEXT)), showlegend=False, name="nodes"))
    if extra:
        names = list(extra)
        fig.add_trace(go.Scatter(
            x=[extra[n][0] for n in names], y=[extra[n][1] for n in names], mode="markers+text",
            text=[text_of(n, _name(n)) for n in names], textposition="bottom center",
            textfont=dict(size=12, color=OFF), customdata=names, hoverinfo="text",
            hovertext=[f"{_name(n)}: not in the normal workflow<br>this session: {visits.get(n, 0)} "
                       f"visit{'s' if visits.get(n, 0) != 1 else ''}"
                       + ("<br><b>unexpected here</b>" if n == bad else "") for n in names],
            marker=dict(size=SIZE, symbol="square", opacity=1,
                        color=[OFF if n == bad else "#ffebee" for n in names],
                        line=dict(color=OFF, width=3)),
            unselected=dict(marker=dict(opacity=1), textfont=dict(color=OFF)), showlegend=False,
            name="off-workflow keys"))
    widest = max((len(ns) for ns in view.layers().values()), default=1)
    fig.update_layout(
        height=height or 380 + 50 * min(widest, 10) + (80 if extra else 0),
        margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white", hovermode="closest",
        xaxis=dict(visible=False), yaxis=dict(visible=False), dragmode="pan")
    return fig


def node_at(fig: go.Figure, point: dict) -> Optional[str]:
    """The node id a plotly selection point names (None for anything but a node)."""
    cd = point.get("customdata")
    if isinstance(cd, list):
        cd = cd[0] if cd else None
    curve, index = point.get("curve_number"), point.get("point_index", point.get("point_number"))
    trace = fig.data[curve] if isinstance(curve, int) and 0 <= curve < len(fig.data) else None
    if trace is None or trace.name not in ("nodes", "off-workflow keys"):
        return None
    if isinstance(cd, str):
        return cd
    ids = list(trace.customdata or [])
    return ids[index] if isinstance(index, int) and 0 <= index < len(ids) else None
