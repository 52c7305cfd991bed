"""Workflow graphs of the normal system, for diagnosis (DeepLog, Du et al. CCS 2017, §4.3).

``build_workflow(train_sessions)`` turns normal sessions into a workflow model: a
``networkx.DiGraph`` over log keys plus the ``START`` and ``END`` nodes, whose edges carry
how often a key followed another and P(next | current) (the edges out of every node but
END sum to 1). On top of the transitions it names the paper's divergence patterns:

concurrency
    Keys ``a`` and ``b`` are concurrent when they interleave in either order: ``a``
    first occurs before ``b`` in some sessions and ``b`` before ``a`` in others, the
    rarer order in at least ``concurrency_share`` of the sessions with both (and the
    pair in at least ``min_support`` of all sessions), and each directly follows the
    other somewhere (twice at least). A loop's body keeps one order (in A (B C)* D, B
    always comes first), so loops are not mistaken for concurrency; whole tasks that
    run one after the other in any order do not follow each other key by key, so they
    are not either.
    Concurrent pairs joined together form a group: HDFS's allocateBlock and the three
    datanodes' "Receiving block" events interleave, and so do "addStoredBlock" and the
    datanodes' "PacketResponder terminating" / "Received block" pairs.
loops
    Cycles of common transitions (self-loops included), leaving out the edges between two
    concurrent keys (an interleaving is not a loop). Each loop has an entry key (the one
    entered most from outside), the back edge that closes it, how many training sessions
    go round it, and how often its entry key occurs in them (its iterations).
new task boundaries
    A node where a new task begins, in the readable view (groups collapsed, chains
    merged, rare transitions dropped): ``start`` when it begins at least ``start_share``
    of the training sessions; ``cut`` when every session passes through it and nothing
    after it leads back to anything before it, so the path taken before it says nothing
    about the path after it (the paper: "the history does not matter") - and it follows
    a divergence (a join of several branches, a concurrent group, a loop or a branch
    point), not merely the next step of a straight line.

``Workflow.simplified()`` gives the view an analyst reads: linear chains merged into one
node, concurrent groups collapsed into one node that lists its members, rare transitions
dropped (or kept and flagged), and a deterministic layered layout (longest path from
START, back edges ignored) for drawing. ``overlay(workflow, session, verdict)`` lays one
session's path on the graph and marks where it left the normal workflow, with the keys the
model (or, without a verdict, the workflow) expected there. Both export to JSON
(node-link graphs, ``to_json`` / ``load_json``) and DOT (``to_dot``, via pydot).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Iterable, Optional, Sequence, Union

import networkx as nx

from .sessions import Session, SessionSet
from .vocab import EOS, RESERVED, _natural

START = "<start>"
END = RESERVED[EOS]  # "<eos>": the key a verdict shows for the end of a session
TERMINALS = (START, END)
FORMAT = "deeplog-workflow"
VIEW_FORMAT = "deeplog-workflow-view"
VERSION = 1


# -- data ------------------------------------------------------------------------------

@dataclass
class ConcurrencyGroup:
    """Keys that interleave in any order. pairs: the concurrent pairs found, each with
    how many sessions show either order and the share of the rarer order."""

    id: str
    keys: list[str]
    pairs: list[dict] = field(default_factory=list)


@dataclass
class Loop:
    """A cycle of the workflow, from its entry key; back_edge closes it.

    sessions: training sessions that take the back edge at least once. iterations:
    occurrences of the entry key in those sessions (mode, max, histogram of
    [iterations, sessions])."""

    id: str
    keys: list[str]
    entry: str
    back_edge: tuple[str, str]
    sessions: int
    iterations: dict

    @property
    def self_loop(self) -> bool:
        return len(self.keys) == 1


@dataclass
class Boundary:
    """Where a new task begins. node: a key, a group id, or (for a merged chain) the
    chain's first key; keys: the keys of that node; kind: "start" or "cut"; share: of
    the training sessions, those that start there (start) or pass through it (cut)."""

    node: str
    keys: list[str]
    kind: str
    share: float


def _key_order(k):
    return _natural(str(k))


def _mode(hist: Counter) -> int:
    return max(hist.items(), key=lambda kv: (kv[1], -kv[0]))[0] if hist else 0


def _clean(value):
    """JSON-friendly copies: tuples to lists, numpy numbers to Python ones."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


# -- the workflow ---------------------------------------------------------------------

@dataclass
class Workflow:
    """The workflow model of the normal system (see the module docstring)."""

    graph: nx.DiGraph
    groups: list[ConcurrencyGroup]
    loops: list[Loop]
    boundaries: list[Boundary]
    sessions: int
    params: dict

    # lookups -----------------------------------------------------------------------
    def group_of(self, key: str) -> Optional[ConcurrencyGroup]:
        return next((g for g in self.groups if key in g.keys), None)

    def concurrent(self, a: str, b: str) -> bool:
        """Whether a and b were found concurrent as a pair (not merely in one group)."""
        g = self.group_of(a)
        return bool(g) and any(set(p["keys"]) == {a, b} for p in g.pairs)

    def probability(self, a: str, b: str) -> float:
        return float(self.graph.edges[a, b]["probability"]) if self.graph.has_edge(a, b) else 0.0

    def successors(self, key: str, min_probability: float = 0.0) -> list[tuple[str, float]]:
        """The keys (END included) that follow `key`, most likely first."""
        if key not in self.graph:
            return []
        out = [(v, float(d["probability"])) for v, d in self.graph[key].items()
               if d["probability"] >= min_probability]
        return sorted(out, key=lambda kv: (-kv[1], _key_order(kv[0])))

    def loops_through(self, key: str) -> list[Loop]:
        return [lp for lp in self.loops if key in lp.keys]

    # views and exports ----------------------------------------------------------------
    def simplified(self, min_probability: Optional[float] = None, min_share: Optional[float] = None,
                   *, collapse_groups: bool = True, merge_chains: bool = True,
                   keep_rare: bool = False) -> "WorkflowView":
        """The readable view; see ``simplify``."""
        return simplify(self, min_probability, min_share, collapse_groups=collapse_groups,
                        merge_chains=merge_chains, keep_rare=keep_rare)

    def layout(self, common_only: bool = True) -> dict[str, tuple[float, float]]:
        """Layered positions of the full graph (its common transitions when common_only)."""
        g = self.graph
        if common_only:
            g = g.edge_subgraph([(u, v) for u, v, d in g.edges(data=True) if not d["rare"]]).copy()
            g.add_nodes_from(TERMINALS)
        return {n: (d["x"], d["y"]) for n, d in layered_layout(g)[0].items()}

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "start": START, "end": END,
            "sessions": self.sessions, "params": _clean(self.params),
            "graph": _clean(nx.node_link_data(self.graph, edges="edges")),
            "groups": [_clean(asdict(g)) for g in self.groups],
            "loops": [_clean(asdict(lp)) for lp in self.loops],
            "boundaries": [_clean(asdict(b)) for b in self.boundaries],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Workflow":
        if data.get("format") != FORMAT:
            raise ValueError(f"not a workflow: format {data.get('format')!r}")
        graph = nx.node_link_graph(data["graph"], directed=True, edges="edges")
        loops = [Loop(**{**lp, "back_edge": tuple(lp["back_edge"])}) for lp in data["loops"]]
        return cls(graph, [ConcurrencyGroup(**g) for g in data["groups"]], loops,
                   [Boundary(**b) for b in data["boundaries"]], int(data["sessions"]),
                   dict(data["params"]))

    def to_json(self, overlay: Optional["Overlay"] = None, indent: Optional[int] = None) -> str:
        return to_json(self, overlay, indent=indent)

    def to_dot(self, overlay: Optional["Overlay"] = None, **kwargs) -> str:
        return to_dot(self, overlay, **kwargs)

    def __repr__(self) -> str:
        keys = self.graph.number_of_nodes() - 2
        return (f"Workflow({keys} keys, {self.graph.number_of_edges()} transitions, "
                f"{len(self.groups)} groups, {len(self.loops)} loops, {self.sessions} sessions)")


def _sequences(sessions) -> Counter:
    """Distinct key sequences and how many sessions have each (logs repeat a lot)."""
    seqs: Counter = Counter()
    for s in sessions:
        keys = s.keys if isinstance(s, Session) else s
        seqs[tuple(str(k) for k in keys)] += 1
    return seqs


def build_workflow(sessions: Union[SessionSet, Iterable[Session], Iterable[Sequence[str]]],
                   templates: Optional[dict] = None, *, min_support: float = 0.01,
                   concurrency_share: float = 0.05, min_probability: float = 0.01,
                   start_share: float = 0.05, max_loop_length: int = 6,
                   max_loops: int = 50) -> Workflow:
    """The workflow model of normal sessions (Sessions, a SessionSet or key lists).

    min_support        share of sessions a key, a concurrent pair or a loop needs to
                       count as a pattern; transitions seen in fewer are rare.
    concurrency_share  share of the rarer order for two keys to be concurrent.
    min_probability    transitions less likely than this are rare: flagged, left out of
                       loops and boundaries, and dropped from the simplified view.
    start_share        share of sessions a key must begin to mark a task start.
    """
    if templates is None and isinstance(sessions, SessionSet):
        templates = sessions.templates
    templates = {str(k): v for k, v in (templates or {}).items()}
    seqs = _sequences(sessions)
    total = sum(seqs.values())
    if total == 0:
        raise ValueError("build_workflow needs at least one session")
    clash = {k for seq in seqs for k in seq} & set(TERMINALS)
    if clash:
        raise ValueError(f"log keys may not be named {sorted(clash)}: they name START / END")
    params = dict(min_support=min_support, concurrency_share=concurrency_share,
                  min_probability=min_probability, start_share=start_share,
                  max_loop_length=max_loop_length, max_loops=max_loops)
    support = max(2, math.ceil(min_support * total)) if total > 1 else 1

    node_count, node_sessions, pos_sum = Counter(), Counter(), Counter()
    multiplicity: dict[str, Counter] = defaultdict(Counter)
    edge_count, edge_sessions, first_before = Counter(), Counter(), Counter()
    # the sequences that take each transition, to count loop iterations
    taking: dict[tuple, list[tuple[Counter, int]]] = defaultdict(list)
    for seq, w in seqs.items():
        path = (START,) + seq + (END,)
        bigrams = Counter(zip(path, path[1:]))
        counts = Counter(seq)
        for e, n in bigrams.items():
            edge_count[e] += n * w
            edge_sessions[e] += w
            taking[e].append((counts, w))
        first: dict[str, int] = {}
        for i, k in enumerate(seq):
            first.setdefault(k, i)
        for k, n in counts.items():
            node_count[k] += n * w
            node_sessions[k] += w
            multiplicity[k][n] += w
            pos_sum[k] += w * (first[k] + 1) / (len(seq) + 1)
        ordered = sorted(first, key=first.get)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                first_before[a, b] += w
    mean_pos = {k: pos_sum[k] / node_sessions[k] for k in node_sessions}

    def by_position(k):
        return (mean_pos.get(k, 0.0), _key_order(k))

    # the graph
    graph = nx.DiGraph()
    graph.add_node(START, count=total, sessions=total, template=None, multiplicity=1,
                   mean_position=0.0, group=None)
    for k in sorted(node_sessions, key=by_position):
        graph.add_node(k, count=node_count[k], sessions=node_sessions[k],
                       template=templates.get(k), multiplicity=_mode(multiplicity[k]),
                       mean_position=round(mean_pos[k], 6), group=None)
    graph.add_node(END, count=total, sessions=total, template=None, multiplicity=1,
                   mean_position=1.0, group=None)
    out_total = Counter()
    for (u, _), n in edge_count.items():
        out_total[u] += n
    rare_node = {k for k in node_sessions if node_sessions[k] < support}
    place = {n: i for i, n in enumerate(graph)}
    for (u, v) in sorted(edge_count, key=lambda e: (place[e[0]], place[e[1]])):
        n = edge_count[u, v]
        p = n / out_total[u]
        graph.add_edge(u, v, count=n, sessions=edge_sessions[u, v], probability=p,
                       rare=bool(p < min_probability or edge_sessions[u, v] < support
                                 or u in rare_node or v in rare_node))

    # concurrency
    pairs = []
    keys = [k for k in graph if k not in TERMINALS and k not in rare_node]
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            ab, ba = first_before[a, b], first_before[b, a]
            both = ab + ba
            if both < support:
                continue
            minority = min(ab, ba)
            interleave = min(edge_count[a, b], edge_count[b, a])
            if minority >= 2 and minority / both >= concurrency_share and interleave >= 2:
                pairs.append({"keys": [a, b], "a_first": ab, "b_first": ba,
                              "share": round(minority / both, 6)})
    pair_graph = nx.Graph()
    pair_graph.add_edges_from(tuple(p["keys"]) for p in pairs)
    components = sorted((sorted(c, key=by_position) for c in nx.connected_components(pair_graph)),
                        key=lambda c: by_position(c[0]))
    groups = []
    for i, members in enumerate(components, start=1):
        gid = f"group:{i}"
        groups.append(ConcurrencyGroup(gid, members, [p for p in pairs if p["keys"][0] in members]))
        for k in members:
            graph.nodes[k]["group"] = gid
    concurrent_pairs = {frozenset(p["keys"]) for p in pairs}

    # loops
    common = nx.DiGraph()
    common.add_edges_from((u, v) for u, v, d in graph.edges(data=True)
                          if not d["rare"] and frozenset((u, v)) not in concurrent_pairs
                          and u not in TERMINALS and v not in TERMINALS)
    cycles = [[u] for u, v in nx.selfloop_edges(common)]
    common.remove_edges_from(list(nx.selfloop_edges(common)))
    cycles += islice(nx.simple_cycles(common, length_bound=max_loop_length), 10_000)
    loops = []
    for cycle in cycles:
        members = set(cycle)
        inflow = {k: sum(d["count"] for u, _, d in graph.in_edges(k, data=True) if u not in members)
                  for k in cycle}
        entry = min(cycle, key=lambda k: (-inflow[k], mean_pos.get(k, 0.0), _key_order(k)))
        i = cycle.index(entry)
        body = cycle[i:] + cycle[:i]
        back = (body[-1], entry)
        hist: Counter = Counter()
        for counts, w in taking.get(back, ()):
            hist[counts[entry]] += w
        n_sessions = sum(hist.values())
        if n_sessions < support:
            continue
        loops.append(Loop("", body, entry, back, n_sessions,
                          {"mode": _mode(hist), "max": max(hist),
                           "histogram": [[k, hist[k]] for k in sorted(hist)]}))
    loops.sort(key=lambda lp: -lp.sessions)
    loops = sorted(loops[:max_loops], key=lambda lp: (by_position(lp.entry), len(lp.keys)))
    for i, lp in enumerate(loops, start=1):
        lp.id = f"loop:{i}"

    workflow = Workflow(graph, groups, loops, [], total, params)
    view = simplify(workflow)
    workflow.boundaries = [Boundary(_boundary_node(view, b.node), list(b.keys), b.kind, b.share)
                           for b in view.boundaries]
    return workflow


def _boundary_node(view: "WorkflowView", node: str) -> str:
    d = view.graph.nodes[node]
    return d["keys"][0] if d["kind"] == "chain" else node


# -- the readable view -----------------------------------------------------------------

@dataclass
class WorkflowView:
    """A simplified workflow for reading and drawing.

    graph nodes: START, END, plain keys (their own id), ``group:N`` (a concurrent group)
    and ``chain:N`` (a merged linear chain), with attributes kind (start / end / key /
    group / chain), keys, label, detail (multi-line, with templates), count (times the
    node is entered), sessions (training sessions visiting it; for a merged node the
    largest of its members'), multiplicity ({key: typical occurrences per session}),
    loops (ids of workflow loops inside or on the node), boundary (kinds), internal
    (transitions inside a group or chain), rare, layer, x, y.
    graph edges: count, probability (of the node's exits; a plain key's self-loop is one
    of them), rare, back (a back edge of the layering: draw it curved).
    """

    graph: nx.DiGraph
    member_of: dict[str, str]
    boundaries: list[Boundary]
    params: dict
    workflow: Optional[Workflow] = field(default=None, repr=False, compare=False)

    def node_of(self, key: str) -> str:
        """The view node that shows `key` (the key itself when the view leaves it out)."""
        return self.member_of.get(key, key)

    def positions(self) -> dict[str, tuple[float, float]]:
        return {n: (d["x"], d["y"]) for n, d in self.graph.nodes(data=True)}

    def layers(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for n, d in sorted(self.graph.nodes(data=True), key=lambda nd: (nd[1]["layer"], -nd[1]["y"])):
            out[d["layer"]].append(n)
        return dict(out)

    def to_dict(self) -> dict:
        return {
            "format": VIEW_FORMAT, "version": VERSION, "start": START, "end": END,
            "params": _clean(self.params),
            "graph": _clean(nx.node_link_data(self.graph, edges="edges")),
            "member_of": dict(self.member_of),
            "boundaries": [_clean(asdict(b)) for b in self.boundaries],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "WorkflowView":
        if data.get("format") != VIEW_FORMAT:
            raise ValueError(f"not a workflow view: format {data.get('format')!r}")
        graph = nx.node_link_graph(data["graph"], directed=True, edges="edges")
        return cls(graph, dict(data["member_of"]), [Boundary(**b) for b in data["boundaries"]],
                   dict(data["params"]))

    def to_json(self, overlay: Optional["Overlay"] = None, indent: Optional[int] = None) -> str:
        return to_json(self, overlay, indent=indent)

    def to_dot(self, overlay: Optional["Overlay"] = None, **kwargs) -> str:
        return to_dot(self, overlay, **kwargs)


def _short(template: Optional[str], width: int = 48) -> str:
    if not template:
        return ""
    return template if len(template) <= width else template[: width - 1] + "…"


def _aggregate(wf: Workflow, mapping: dict[str, Optional[str]], kinds: dict[str, str],
               members: Optional[dict] = None):
    """Edges between view nodes: counts, exit probabilities, internal transitions.

    A transition inside a group or chain is internal, except a chain's last key back to
    its first: the chain repeating, its self-loop."""
    counts: Counter = Counter()
    out_total: Counter = Counter()
    internal: dict[str, list] = defaultdict(list)
    for u, v, d in wf.graph.edges(data=True):
        U, V = mapping.get(u), mapping.get(v)
        if U is None:
            continue
        repeat = (kinds[U] == "chain" and members is not None
                  and (u, v) == (members[U][-1], members[U][0]))
        if U == V and kinds[U] != "key" and not repeat:
            internal[U].append((u, v, d["count"]))
            continue
        out_total[U] += d["count"]  # exits to left-out keys count: their share is dropped
        if V is not None:
            counts[U, V] += d["count"]
    return counts, out_total, internal


def simplify(wf: Workflow, min_probability: Optional[float] = None, min_share: Optional[float] = None,
             *, collapse_groups: bool = True, merge_chains: bool = True,
             keep_rare: bool = False) -> WorkflowView:
    """The readable view of a workflow.

    Keys in fewer than ``min_share`` of the sessions (default: the workflow's
    min_support) and transitions less likely than ``min_probability`` (default: the
    workflow's) are rare: left out, or with ``keep_rare`` kept and flagged ``rare`` (draw
    them grey). Concurrent groups become one node each; then a chain of plain keys
    a -> b, where a's only successor drawn is b and b's only predecessor drawn is a
    (and neither repeats itself), becomes one node; a chain that is a loop's body (its
    last key leads back to its first) gets a self-loop. Edge probabilities are those of the
    node's exits, including the ones to left-out keys (so they may sum to less than 1).
    """
    G = wf.graph
    p_min = wf.params["min_probability"] if min_probability is None else min_probability
    share = wf.params["min_support"] if min_share is None else min_share
    n_min = max(1, math.ceil(share * wf.sessions))
    rare_keys = {k for k, d in G.nodes(data=True)
                 if k not in TERMINALS and d["sessions"] < n_min and not (collapse_groups and d["group"])}

    mapping: dict[str, Optional[str]] = {}
    kinds: dict[str, str] = {START: "start", END: "end"}
    members: dict[str, list[str]] = defaultdict(list)
    for k in G:
        if k in rare_keys and not keep_rare:
            mapping[k] = None
            continue
        gid = G.nodes[k]["group"] if collapse_groups else None
        node = gid or k
        mapping[k] = node
        kinds.setdefault(node, "group" if gid else "key")
        members[node].append(k)

    def common_edges(counts, out_total):
        if keep_rare:  # rare transitions are drawn, so a chain may not hide their ends
            return dict(counts)
        return {(U, V): c for (U, V), c in counts.items()
                if c / out_total[U] >= p_min and U not in rare_keys and V not in rare_keys}

    # chains, on the transitions drawn
    if merge_chains:
        counts, out_total, _ = _aggregate(wf, mapping, kinds)
        common = common_edges(counts, out_total)
        succ, pred = defaultdict(set), defaultdict(set)
        for U, V in common:
            if U != V:
                succ[U].add(V)
                pred[V].add(U)
        looping = {U for U, V in common if U == V}

        def plain(n):
            return kinds.get(n) == "key" and n not in looping and n not in rare_keys

        link = {}
        for U in list(succ):
            if plain(U) and len(succ[U]) == 1:
                V = next(iter(succ[U]))
                if plain(V) and len(pred[V]) == 1 and V != U:
                    link[U] = V
        linked_to = set(link.values())
        chains = []
        for U in sorted(link, key=lambda n: G.nodes[n]["mean_position"]):
            if U in linked_to:
                continue
            chain = [U]
            while chain[-1] in link and link[chain[-1]] not in chain:
                chain.append(link[chain[-1]])
            chains.append(chain)
        for i, chain in enumerate(chains, start=1):
            cid = f"chain:{i}"
            kinds[cid] = "chain"
            members[cid] = [k for n in chain for k in members.pop(n)]
            for n in chain:
                kinds.pop(n, None)
            for k in members[cid]:
                mapping[k] = cid

    counts, out_total, internal = _aggregate(wf, mapping, kinds, members)
    V_ = nx.DiGraph()
    loops_on = defaultdict(list)
    for lp in wf.loops:
        nodes = {mapping.get(k) for k in lp.keys}
        if len(nodes) == 1 and None not in nodes:
            loops_on[nodes.pop()].append(lp.id)
    order = [START] + sorted((n for n in members if n not in TERMINALS),
                             key=lambda n: (min(G.nodes[k]["mean_position"] for k in members[n]),
                                            _key_order(n))) + [END]
    inflows: Counter = Counter()
    for (U, V), c in counts.items():
        if U != V or kinds[V] == "key":  # a chain's repeat is no new entry
            inflows[V] += c
    for n in order:
        keys = members[n] if n not in TERMINALS else [n]
        kind = kinds[n]
        inflow = inflows[n]
        mult = {k: int(G.nodes[k]["multiplicity"]) for k in keys if k not in TERMINALS}
        templates = {k: G.nodes[k]["template"] for k in keys}
        if kind == "start":
            label, detail = "START", "start of session"
        elif kind == "end":
            label, detail = "END", "end of session"
        else:
            sep = " ∥ " if kind == "group" else " → "
            label = sep.join(f"{k} ×{mult[k]}" if mult[k] > 1 else k for k in keys)
            head = {"group": "concurrent, in any order:", "chain": "in sequence:"}.get(kind)
            lines = ([head] if head else []) + [
                f"{k}{' ×' + str(mult[k]) if mult[k] > 1 else ''}  {_short(templates[k])}".rstrip()
                for k in keys]
            for lid in loops_on.get(n, []):
                lp = next(lp for lp in wf.loops if lp.id == lid)
                body = lp.keys[0] if lp.self_loop else "(" + " → ".join(lp.keys) + ")"
                lines.append(f"{body} ↻ ×{lp.iterations['mode']} typically")
            detail = "\n".join(lines)
        V_.add_node(n, kind=kind, keys=list(keys), label=label, detail=detail,
                    count=int(G.nodes[START]["count"] if kind == "start" else inflow),
                    sessions=int(max(G.nodes[k]["sessions"] for k in keys)),
                    multiplicity=mult, templates={k: t for k, t in templates.items() if t},
                    loops=loops_on.get(n, []), boundary=[],
                    internal=[[u, v, c] for u, v, c in internal.get(n, [])],
                    rare=bool(any(k in rare_keys for k in keys)))
    place = {n: i for i, n in enumerate(order)}
    for (U, V), c in sorted(counts.items(), key=lambda e: (place[e[0][0]], place[e[0][1]])):
        p = c / out_total[U]
        rare = p < p_min or V_.nodes[U]["rare"] or V_.nodes[V]["rare"]
        if rare and not keep_rare:
            continue
        V_.add_edge(U, V, count=int(c), probability=p, rare=bool(rare), back=False)
    # keys whose every transition was rare
    for n in [n for n in V_ if n not in TERMINALS and V_.degree(n) == 0]:
        V_.remove_node(n)
        for k in members[n]:
            mapping[k] = None

    positions, back = layered_layout(V_)
    for n, d in positions.items():
        V_.nodes[n].update(d)
    for e in back:
        V_.edges[e]["back"] = True
    member_of = {k: n for k, n in mapping.items() if n is not None and n in V_}
    params = dict(min_probability=p_min, min_share=share, collapse_groups=collapse_groups,
                  merge_chains=merge_chains, keep_rare=keep_rare)
    view = WorkflowView(V_, member_of, [], params, wf)
    view.boundaries = _boundaries(view, wf)
    for b in view.boundaries:
        V_.nodes[b.node]["boundary"].append(b.kind)
    return view


def _boundaries(view: WorkflowView, wf: Workflow) -> list[Boundary]:
    """New task boundaries of a view (see the module docstring)."""
    G, total = view.graph, wf.sessions
    start_share = wf.params["start_share"]
    common = nx.DiGraph()
    common.add_nodes_from(G)
    common.add_edges_from((u, v) for u, v, d in G.edges(data=True) if not d["rare"])
    out = []
    for n in G.successors(START):
        if n == END:
            continue
        share = G.edges[START, n]["count"] / total
        if share >= start_share:
            out.append(Boundary(n, list(G.nodes[n]["keys"]), "start", round(share, 6)))
    if END not in common or not nx.has_path(common, START, END):
        return out
    idom = nx.immediate_dominators(common, START)
    dominators, n = [], idom[END]
    while n != START:
        dominators.append(n)
        n = idom[n]
    for d in reversed(dominators):
        preds = [p for p in common.predecessors(d) if p != d]
        if preds == [START]:
            continue  # the first node: a start, not a cut
        before = set(nx.descendants(common.subgraph(set(common) - {d}), START)) | {START}
        after = nx.descendants(common, d)
        if before & after:
            continue  # something after it leads back before it: history still matters
        p = preds[0] if len(preds) == 1 else None
        straight = (p is not None and G.nodes[p]["kind"] in ("key", "chain")
                    and not common.has_edge(p, p) and list(common.successors(p)) == [d]
                    and not G.nodes[p]["loops"])
        if straight:
            continue
        share = min(1.0, G.nodes[d]["sessions"] / total)
        out.append(Boundary(d, list(G.nodes[d]["keys"]), "cut", round(share, 6)))
    return out


def layered_layout(graph: nx.DiGraph, start: str = START, end: str = END, weight: str = "count"):
    """Deterministic layered positions: ({node: {layer, x, y}}, back edges).

    Back edges come from a depth-first search from `start` that follows the heaviest
    edges first; without them (and self-loops) the graph is a DAG, layered by the
    longest path from `start`, with `end` alone in the last layer. Within a layer nodes
    are ordered by the mean place of their predecessors (fewer crossings), then by
    weight. x grows with the layer, y goes down the layer (networkx multipartite_layout).
    """
    if len(graph) == 0:
        return {}, set()

    def count(n):
        return graph.nodes[n].get(weight, 0) or 0

    def succ(n):
        return sorted((v for v in graph.successors(n) if v != n),
                      key=lambda v: (-(graph.edges[n, v].get(weight, 0) or 0), _key_order(v)))

    color: dict = {}
    back: set = set()
    roots = ([start] if start in graph else []) + sorted(
        (n for n in graph if n != start), key=lambda n: (-count(n), _key_order(n)))
    for r in roots:
        if r in color:
            continue
        color[r] = 1
        stack = [(r, iter(succ(r)))]
        while stack:
            n, it = stack[-1]
            for v in it:
                c = color.get(v)
                if c is None:
                    color[v] = 1
                    stack.append((v, iter(succ(v))))
                    break
                if c == 1:
                    back.add((n, v))
            else:
                color[n] = 2
                stack.pop()
    dag = nx.DiGraph()
    dag.add_nodes_from(graph)
    dag.add_edges_from((u, v) for u, v in graph.edges() if u != v and (u, v) not in back)
    layer: dict = {}
    for n in nx.lexicographical_topological_sort(dag, key=lambda n: _key_order(n)):
        preds = [layer[p] for p in dag.predecessors(n)]
        layer[n] = 0 if n == start else max([p + 1 for p in preds], default=1)
    if end in layer:
        layer[end] = max([v for k, v in layer.items() if k != end], default=-1) + 1
    if start in layer:
        for n in layer:
            if n != start and layer[n] == 0:
                layer[n] = 1
    # consecutive layer numbers
    renumber = {v: i for i, v in enumerate(sorted(set(layer.values())))}
    layer = {n: renumber[v] for n, v in layer.items()}
    index: dict = {}
    layers: dict[int, list] = {}
    for l in sorted(set(layer.values())):
        nodes = [n for n in graph if layer[n] == l]

        def bary(n):
            ps = [index[p] for p in dag.predecessors(n) if p in index]
            return sum(ps) / len(ps) if ps else math.inf

        nodes.sort(key=lambda n: (bary(n), -count(n), _key_order(n)))
        for i, n in enumerate(nodes):
            index[n] = i - (len(nodes) - 1) / 2
        layers[l] = nodes
    pos = nx.multipartite_layout(graph, subset_key=layers, align="vertical")
    out = {n: {"layer": layer[n], "x": round(float(pos[n][0]), 6), "y": round(-float(pos[n][1]), 6) + 0.0}
           for n in graph}
    return out, back


# -- overlay ---------------------------------------------------------------------------

@dataclass
class Step:
    """One transition of a session: position is the event it leads to (len(keys): the
    end). in_graph: the workflow has this transition; normal: the verdict's judgement of
    the event when there is one, else in_graph and at least the probability floor."""

    position: int
    source: str
    target: str
    in_graph: bool
    probability: float
    normal: bool
    reason: Optional[str] = None


@dataclass
class Divergence:
    """Where the session left the normal workflow.

    position: the first abnormal event (len(keys) for the end); last_normal: the node
    reached by the last normal step (START when the first event is abnormal) and
    last_normal_position its event position (-1 for START); key: the unexpected key,
    or END for an unexpected end; expected: what was expected there instead, [key,
    probability], from the verdict's candidates (source "verdict") or from the
    workflow's successors of last_normal (source "workflow")."""

    position: int
    last_normal: str
    last_normal_position: int
    key: str
    reason: str
    expected: list[tuple[str, float]]
    source: str


@dataclass
class Overlay:
    """A session's path on a workflow: path is START, its keys, END."""

    session_id: str
    label: Optional[int]
    path: list[str]
    steps: list[Step]
    divergence: Optional[Divergence]
    visits: dict[str, int]
    traversals: list[dict]   # {source, target, count, in_graph, probability}

    @property
    def off_graph(self) -> list[dict]:
        return [t for t in self.traversals if not t["in_graph"]]

    def to_dict(self) -> dict:
        d = _clean(asdict(self))
        if self.divergence:
            d["divergence"]["expected"] = [{"key": k, "probability": p}
                                           for k, p in self.divergence.expected]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Overlay":
        div = data.get("divergence")
        if div:
            div = Divergence(**{**div, "expected": [(e["key"], e["probability"]) for e in div["expected"]]})
        return cls(data["session_id"], data["label"], list(data["path"]),
                   [Step(**s) for s in data["steps"]], div, dict(data["visits"]),
                   [dict(t) for t in data["traversals"]])

    def project(self, target: Union[Workflow, WorkflowView]) -> dict:
        """The overlay in the terms of a view (or of the workflow itself): the path over
        its nodes (steps inside one node merged), visits, traversed edges (in_graph:
        the view draws that edge) and the divergence's nodes."""
        if isinstance(target, WorkflowView):
            node_of, graph = target.node_of, target.graph
        else:
            node_of, graph = (lambda k: k), target.graph
        # steps inside a merged node (group, chain) vanish into it; a plain key's repeats
        # stay steps (its self-loop)
        path: list[str] = []
        for k in self.path:
            n = node_of(k)
            merged = graph.nodes[n].get("kind") in ("group", "chain") if n in graph else False
            if not (path and path[-1] == n and merged):
                path.append(n)
        visits = Counter(path)
        edges = Counter(zip(path, path[1:]))
        out = {
            "path": path,
            "visits": dict(visits),
            "traversals": [{"source": u, "target": v, "count": c,
                            "in_graph": bool(graph.has_edge(u, v) and not graph.edges[u, v].get("rare"))}
                           for (u, v), c in edges.items()],
            "unknown": sorted({n for n in path if n not in graph}, key=_key_order),
            "divergence": None,
        }
        if self.divergence:
            dv = self.divergence
            out["divergence"] = {
                "position": dv.position, "reason": dv.reason,
                "last_normal": node_of(dv.last_normal), "key": node_of(dv.key),
                "expected": [{"node": node_of(k), "key": k, "probability": p} for k, p in dv.expected],
            }
        return out


def overlay(workflow: Workflow, session: Union[Session, Sequence[str]], verdict=None, *,
            min_probability: Optional[float] = None, top: Optional[int] = None) -> Overlay:
    """Session `session` on `workflow`, with where it diverged.

    With a ``SessionVerdict`` the divergence is the verdict's first anomaly and the
    expected keys are its top-g candidates. Without one it is the first transition the
    workflow lacks or finds less likely than ``min_probability`` (default: the
    workflow's), and the expected keys are the workflow's successors there (the `top`
    most likely, all by default)."""
    if isinstance(session, Session):
        sid, label, keys = session.id, session.label, [str(k) for k in session.keys]
    else:
        sid, label, keys = "", None, [str(k) for k in session]
    G = workflow.graph
    floor = workflow.params["min_probability"] if min_probability is None else min_probability
    events = {e.position: e for e in verdict.events} if verdict is not None else {}
    path = [START] + keys + [END]
    steps = []
    for pos in range(len(keys) + 1):
        u, v = path[pos], path[pos + 1]
        in_graph = G.has_edge(u, v)
        p = float(G.edges[u, v]["probability"]) if in_graph else 0.0
        ev = events.get(pos)
        if ev is not None:
            normal, reason = not ev.anomalous, ev.reason
        elif verdict is not None:
            normal, reason = True, None  # the model does not judge it (e.g. no end key)
        else:
            normal = in_graph and p >= floor
            reason = None if normal else (
                "unknown_key" if v not in G else "unexpected_end" if v == END else "unexpected_key")
        steps.append(Step(pos, u, v, in_graph, round(p, 6), bool(normal), reason))
    divergence = None
    first = (verdict.first_anomaly if verdict is not None
             else next((s.position for s in steps if not s.normal), None))
    if first is not None:
        step = steps[first]
        if verdict is not None:
            ev = events[first]
            expected = [(END if k == RESERVED[EOS] else k, float(p)) for k, p in ev.candidates]
            reason, source = ev.reason or "unexpected_key", "verdict"
        else:
            expected = workflow.successors(step.source, floor)[:top]
            reason, source = step.reason, "workflow"
        divergence = Divergence(first, step.source, first - 1, step.target, reason, expected, source)
    visits = Counter(path)
    traversals = [{"source": u, "target": v, "count": c, "in_graph": G.has_edge(u, v),
                   "probability": round(workflow.probability(u, v), 6)}
                  for (u, v), c in Counter(zip(path, path[1:])).items()]
    return Overlay(sid, label, path, steps, divergence, dict(visits), traversals)


# -- export ----------------------------------------------------------------------------

def to_json(obj: Union[Workflow, WorkflowView], overlay: Optional[Overlay] = None,
            indent: Optional[int] = None) -> str:
    """JSON of a workflow or a view; with an overlay, under "overlay", and its
    projection onto the view's nodes under "overlay"."view"."""
    data = obj.to_dict()
    if overlay is not None:
        data["overlay"] = overlay.to_dict()
        data["overlay"]["view"] = _clean(overlay.project(obj))
    return json.dumps(data, indent=indent, ensure_ascii=False)


def load_json(text: str):
    """(Workflow or WorkflowView, Overlay or None) from ``to_json``'s output."""
    data = json.loads(text)
    fmt = data.get("format")
    obj = (Workflow.from_dict(data) if fmt == FORMAT else WorkflowView.from_dict(data)
           if fmt == VIEW_FORMAT else None)
    if obj is None:
        raise ValueError(f"not a workflow export: format {fmt!r}")
    ov = data.get("overlay")
    if ov:
        ov = {k: v for k, v in ov.items() if k != "view"}
    return obj, (Overlay.from_dict(ov) if ov else None)


def _q(text: str) -> str:
    """A DOT string, quoted here (pydot would leave <...> unquoted, as HTML)."""
    lines = str(text).split("\n")
    return '"' + "\\n".join(ln.replace("\\", "\\\\").replace('"', '\\"') for ln in lines) + '"'


def _dot_names(nodes) -> dict:
    names, used = {}, set()
    for n in nodes:
        base = re.sub(r"\W+", "_", str(n)).strip("_") or "n"
        if base[0].isdigit():
            base = "n" + base
        name, i = base, 1
        while name in used:
            i += 1
            name = f"{base}_{i}"
        used.add(name)
        names[n] = name
    return names


OVERLAY_COLOR, DIVERGENCE_COLOR, EXPECTED_COLOR, LAST_NORMAL_COLOR = "blue", "red", "darkgreen", "orange"


def to_dot(obj: Union[Workflow, WorkflowView], overlay: Optional[Overlay] = None, *,
           rankdir: str = "LR", templates: bool = True, show_rare: bool = True) -> str:
    """Graphviz DOT of a workflow or view. With an overlay: the session's path in blue,
    transitions off the workflow dashed red, the last normal node orange, the unexpected
    key (or END) red, and the expected keys green with dashed green edges."""
    is_view = isinstance(obj, WorkflowView)
    G = obj.graph
    dot = nx.DiGraph()
    dot.graph["graph"] = {"rankdir": rankdir}
    dot.graph["node"] = {"shape": "box", "style": _q("rounded,filled"), "fillcolor": "white",
                         "fontname": "Helvetica"}
    dot.graph["edge"] = {"fontname": "Helvetica", "fontsize": "10"}
    proj = overlay.project(obj) if overlay is not None else None
    extra = proj["unknown"] if proj else []
    names = _dot_names(list(G) + [n for n in extra if n not in G])

    for n, d in G.nodes(data=True):
        if d.get("rare") and not show_rare:
            continue
        kind = d.get("kind") if is_view else ("start" if n == START else "end" if n == END else "key")
        attrs = {}
        if kind == "start":
            attrs.update(shape="circle", label=_q("START"))
        elif kind == "end":
            attrs.update(shape="doublecircle", label=_q("END"))
        elif is_view:
            text = d["detail"] if templates else d["label"]
            attrs["label"] = _q(text)
            if kind == "group":
                attrs.update(style=_q("rounded,filled,dashed"), fillcolor=_q("#eef3ff"))
            elif kind == "chain":
                attrs.update(fillcolor=_q("#f4f4f4"))
        else:
            mult = d.get("multiplicity", 1)
            text = n + (f" ×{mult}" if mult > 1 else "")
            if templates and d.get("template"):
                text += "\n" + _short(d["template"])
            attrs["label"] = _q(text)
            if d.get("group"):
                attrs.update(style=_q("rounded,filled,dashed"), fillcolor=_q("#eef3ff"))
        if d.get("rare"):
            attrs.update(color="grey", fontcolor="grey")
        if d.get("boundary"):
            attrs["penwidth"] = "2"
        dot.add_node(names[n], **attrs)
    for u, v, d in G.edges(data=True):
        if names[u] not in dot or names[v] not in dot or (d.get("rare") and not show_rare):
            continue
        attrs = {"label": _q(f"{d['probability']:.2f}")}
        if d.get("rare"):
            attrs.update(color="grey", fontcolor="grey", style="dashed")
        if d.get("back"):
            attrs["constraint"] = "false"
        dot.add_edge(names[u], names[v], **attrs)

    if proj:
        for n in extra:
            dot.add_node(names[n], label=_q(f"{n}\n(not in workflow)"), color=DIVERGENCE_COLOR,
                         fontcolor=DIVERGENCE_COLOR)
        for n in proj["visits"]:
            dot.nodes[names[n]].update(color=OVERLAY_COLOR, penwidth="2")
        for t in proj["traversals"]:
            u, v = names[t["source"]], names[t["target"]]
            if t["in_graph"] and dot.has_edge(u, v):
                label = dot.edges[u, v].get("label", '""').strip('"')
                dot.edges[u, v].update(color=OVERLAY_COLOR, penwidth="3",
                                       label=_q(f"{label} ×{t['count']}" if t["count"] > 1 else label))
            else:
                dot.add_edge(u, v, color=DIVERGENCE_COLOR, style="dashed", penwidth="3",
                             fontcolor=DIVERGENCE_COLOR, label=_q("not in workflow"))
        dv = proj["divergence"]
        if dv:
            last, key = names[dv["last_normal"]], names[dv["key"]]
            expected_at: dict[str, list[str]] = defaultdict(list)
            for e in dv["expected"]:
                c = names.get(e["node"])
                if c is not None and c in dot:
                    expected_at[c].append(f"{e['key']} {e['probability']:.2f}")
            notes: dict[str, list[str]] = defaultdict(list)
            notes[last].append("last normal")
            notes[key].append(dv["reason"].replace("_", " "))
            for c, items in expected_at.items():
                text = "expected " + ", ".join(items)
                if c in (last, key):
                    notes[c].append(text)  # inside the same merged node
                    continue
                dot.nodes[c].update(color=EXPECTED_COLOR, penwidth="3")
                old = dot.edges[last, c].get("label", '""').strip('"') if dot.has_edge(last, c) else ""
                attrs = dict(color=EXPECTED_COLOR, style="dashed", fontcolor=EXPECTED_COLOR,
                             label=_q(f"{old} · {text}" if old else text))
                if dot.has_edge(last, c):
                    dot.edges[last, c].update(attrs)
                else:
                    dot.add_edge(last, c, **attrs)
            dot.nodes[last].update(fillcolor=LAST_NORMAL_COLOR)
            dot.nodes[key].update(fillcolor=DIVERGENCE_COLOR, fontcolor="white",
                                  color=DIVERGENCE_COLOR, penwidth="3")
            for n, items in notes.items():
                dot.nodes[n]["xlabel"] = _q("; ".join(items))
            if last != key:
                if not dot.has_edge(last, key):
                    dot.add_edge(last, key)
                dot.edges[last, key].update(color=DIVERGENCE_COLOR, penwidth="3", fontcolor=DIVERGENCE_COLOR,
                                            label=_q(f"divergence at {dv['position']}"))
        dot.graph["graph"]["label"] = _q(
            (f"session {overlay.session_id}: " if overlay.session_id else "session: ")
            + (f"diverges at position {overlay.divergence.position} ({overlay.divergence.reason})"
               if overlay.divergence else "follows the workflow"))
    return nx.nx_pydot.to_pydot(dot).to_string()
