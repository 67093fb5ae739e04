"""Plain DAG algorithms, linear in tasks + edges so a 5,000-task workflow validates in milliseconds."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

Edge = tuple[str, str]


def adjacency(nodes: Iterable[str], edges: Iterable[Edge]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in succ}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    return succ, pred


def find_cycle(nodes: Sequence[str], edges: Iterable[Edge]) -> list[str] | None:
    """A cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic.

    Kahn's algorithm removes everything not on or behind a cycle; every remaining node still has a
    predecessor among the remaining ones, so walking predecessors must revisit a node.
    """
    succ, pred = adjacency(nodes, edges)
    indegree = {n: len(pred[n]) for n in succ}
    queue = deque(n for n, d in indegree.items() if d == 0)
    while queue:
        node = queue.popleft()
        for nxt in succ[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    remaining = {n for n, d in indegree.items() if d > 0}
    if not remaining:
        return None
    start = min(remaining)
    seen: dict[str, int] = {}
    walk: list[str] = []
    node = start
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = min(p for p in pred[node] if p in remaining)
    cycle = walk[seen[node]:]
    cycle.reverse()  # we walked against the edges
    first = cycle.index(min(cycle))  # start at the smallest id: the same cycle always reads the same
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]


def levels(nodes: Sequence[str], edges: Iterable[Edge]) -> dict[str, int]:
    """Longest distance from a root, per node (acyclic input): the column of the node in a layout."""
    succ, pred = adjacency(nodes, edges)
    indegree = {n: len(pred[n]) for n in succ}
    depth = dict.fromkeys(succ, 0)
    queue = deque(n for n, d in indegree.items() if d == 0)
    while queue:
        node = queue.popleft()
        for nxt in succ[node]:
            depth[nxt] = max(depth[nxt], depth[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return depth


def roots_and_leaves(nodes: Sequence[str], edges: Iterable[Edge]) -> tuple[list[str], list[str]]:
    succ, pred = adjacency(nodes, edges)
    return [n for n in nodes if not pred[n]], [n for n in nodes if not succ[n]]


def reachable(starts: Iterable[str], neighbours: dict[str, list[str]]) -> set[str]:
    """Every node reachable from ``starts`` (not including them unless on a path back)."""
    found: set[str] = set()
    stack = [n for s in starts for n in neighbours.get(s, [])]
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found.add(node)
        stack.extend(neighbours.get(node, []))
    return found


def remove_nodes_keep_order(nodes: Sequence[str], edges: Sequence[Edge], removed: set[str]) -> list[Edge]:
    """Edges after removing ``removed``, bridging paths that ran through them (a→x→b keeps a→b)."""
    succ, _ = adjacency(nodes, edges)
    result: set[Edge] = set()
    for a in nodes:
        if a in removed:
            continue
        stack = list(succ[a])
        visited: set[str] = set()
        while stack:
            node = stack.pop()
            if node in visited:
                continue
            visited.add(node)
            if node in removed:
                stack.extend(succ[node])
            else:
                result.add((a, node))
    return sorted(result)


def transitive_reduction(nodes: Sequence[str], edges: Iterable[Edge]) -> list[Edge]:
    """The acyclic graph's edges minus those a longer path already implies (a→c when a→b→c).

    The order of execution is the same; DolphinScheduler just draws and checks fewer lines.
    """
    succ, _ = adjacency(nodes, set(edges))
    result: list[Edge] = []
    for a in nodes:
        implied = reachable(succ[a], succ)  # everything two or more steps away
        result.extend((a, b) for b in succ[a] if b not in implied)
    return sorted(result)
