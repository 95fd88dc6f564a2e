"""The template miner: drain3's Drain, configured once, with stable pattern ids and a state.

Every ``by: pattern`` rule mines with :data:`MINER_CONFIG` (documented in
docs/sources.md, "Log patterns"), so the daemon, replay, the digest and ``check --probe``
mine the same way. A message is masked (:mod:`adapters.logpatterns.masking`) and given
to Drain, which puts it in the cluster whose template it resembles most (at least
``sim_th`` of its tokens equal, among clusters with the same token count and the same
first token) or starts a new cluster; a cluster's template turns the
tokens in which its messages differ into ``<*>``.

**Pattern ids.** A cluster's id is the first 8 hex digits of the SHA-256 of its template
*when it was created* (the masked text of its first message), so the same first message
gets the same id in every miner, and a template that was forgotten and comes back gets
its old id again. Ids do not change when the template generalises later.

**Bounded.** At most ``max_clusters`` clusters are kept, least recently used first out
(Drain's own LRU is replaced by one the state can record). Exact repeats of a masked
message skip Drain through a memo of the ``memo_size`` most recent messages: a message
keeps the cluster it was first given while both are remembered.

**State.** :meth:`PatternMiner.to_state` records everything assignment depends on
(Drain's prefix tree, the clusters in LRU order, the memo) as plain JSON data, and
:meth:`PatternMiner.from_state` restores a miner that continues exactly as the saved one
would have. drain3's own persistence (jsonpickle of the Drain object) is not used: it
would restore arbitrary Python objects from a file, and it does not keep the LRU order.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from adapters.logpatterns.masking import MASKING_VERSION, mask

PARAM = "<*>"
ID_DIGITS = 8


@dataclass(frozen=True)
class MinerConfig:
    """Drain's parameters; changing any of them changes templates and ids."""

    sim_th: float = 0.5
    """Share of equal tokens (wildcards not counted) a message needs to join a cluster."""
    depth: int = 4
    """Prefix-tree depth: clusters are looked up by token count and the first token
    (``depth - 3`` tokens below the token-count level); deeper trees split templates
    whose second token varies (``user <*> logged in``)."""
    max_children: int = 100
    """Children per tree node before further first tokens share a wildcard branch."""
    max_clusters: int = 1000
    """Clusters remembered; the least recently seen is forgotten first."""
    memo_size: int = 4096
    """Exact masked messages remembered with their cluster."""
    max_message_chars: int = 2000
    """Longer messages are cut here before mining (a 1 MB line is one template)."""


MINER_CONFIG = MinerConfig()


class StateMismatch(ValueError):
    """A saved miner state was made with other parameters or masking: not reusable."""


class PatternMiner:
    """Assigns messages to templates (see the module doc). Not thread-safe."""

    def __init__(self, config: MinerConfig = MINER_CONFIG) -> None:
        from drain3.drain import Drain  # noqa: PLC0415  (imported where mining starts)

        self.config = config
        self._drain = Drain(
            depth=config.depth,
            sim_th=config.sim_th,
            max_children=config.max_children,
            max_clusters=None,
            param_str=PARAM,
            parametrize_numeric_tokens=True,
        )
        self._clusters: dict[int, Any] = self._drain.id_to_cluster
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._memo: OrderedDict[str, int] = OrderedDict()
        self._ids: dict[int, str] = {}
        self._owner: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._clusters)

    def assign(self, message: str) -> int:
        """The cluster of one (unmasked) message; creates or generalises clusters."""
        masked = mask(message[: self.config.max_message_chars])
        memo = self._memo
        known = memo.get(masked)
        if known is not None:
            cluster = self._clusters.get(known)
            if cluster is not None:
                memo.move_to_end(masked)
                self._recent.move_to_end(known)
                cluster.size += 1
                return known
            del memo[masked]
        cluster, change = self._drain.add_log_message(masked)
        cid: int = cluster.cluster_id
        if change == "cluster_created":
            self._name(cid, cluster.get_template())
            self._recent[cid] = None
            if len(self._recent) > self.config.max_clusters:
                self._forget(next(iter(self._recent)))
        else:
            self._recent.move_to_end(cid)
        memo[masked] = cid
        if len(memo) > self.config.memo_size:
            memo.popitem(last=False)
        return cid

    def pattern_id(self, cid: int) -> str:
        return self._ids[cid]

    def template(self, cid: int) -> str | None:
        """The cluster's current template, or ``None`` once it was forgotten."""
        cluster = self._clusters.get(cid)
        return None if cluster is None else str(cluster.get_template())

    def templates(self) -> dict[str, str]:
        """Current template of every remembered cluster, by pattern id."""
        return {self._ids[cid]: str(c.get_template()) for cid, c in self._clusters.items()}

    def _name(self, cid: int, template: str) -> None:
        seed = template
        n = 0
        while True:
            pid = hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:ID_DIGITS]
            owner = self._owner.get(pid)
            if owner is None or owner not in self._clusters:
                break
            n += 1
            seed = f"{template}\x00{n}"
        self._ids[cid] = pid
        self._owner[pid] = cid

    def _forget(self, cid: int) -> None:
        del self._recent[cid]
        del self._clusters[cid]  # Drain drops stale ids from its tree lazily
        pid = self._ids.pop(cid)
        if self._owner.get(pid) == cid:
            del self._owner[pid]

    def to_state(self) -> dict[str, Any]:
        """Plain JSON data that :meth:`from_state` turns back into this miner."""
        return {
            "config": asdict(self.config),
            "masking": MASKING_VERSION,
            "counter": self._drain.clusters_counter,
            "clusters": [
                [
                    cid,
                    list(self._clusters[cid].log_template_tokens),
                    self._clusters[cid].size,
                    self._ids[cid],
                ]
                for cid in self._recent
            ],
            "tree": _dump_node(self._drain.root_node),
            "memo": [[text, cid] for text, cid in self._memo.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MinerConfig = MINER_CONFIG) -> PatternMiner:
        """Restore a miner saved by :meth:`to_state`; raises :class:`StateMismatch` when it
        was mined with other parameters or masking, ``ValueError`` when it is damaged."""
        if state.get("config") != asdict(config) or state.get("masking") != MASKING_VERSION:
            raise StateMismatch("saved with other mining parameters or masking")
        from drain3.drain import LogCluster  # noqa: PLC0415

        miner = cls(config)
        try:
            miner._drain.clusters_counter = int(state["counter"])
            for cid, tokens, size, pid in state["clusters"]:
                cluster = LogCluster([str(t) for t in tokens], int(cid))
                cluster.size = int(size)
                miner._clusters[int(cid)] = cluster
                miner._recent[int(cid)] = None
                miner._ids[int(cid)] = str(pid)
                miner._owner[str(pid)] = int(cid)
            miner._drain.root_node = _load_node(state["tree"])
            for text, cid in state["memo"]:
                miner._memo[str(text)] = int(cid)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"damaged miner state: {exc!r}") from None
        return miner


def _dump_node(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node.cluster_ids:
        out["i"] = list(node.cluster_ids)
    if node.key_to_child_node:
        out["c"] = {key: _dump_node(child) for key, child in node.key_to_child_node.items()}
    return out


def _load_node(data: dict[str, Any]) -> Any:
    from drain3.drain import Node  # noqa: PLC0415

    node = Node()
    node.cluster_ids = [int(i) for i in data.get("i", [])]
    node.key_to_child_node = {str(k): _load_node(v) for k, v in data.get("c", {}).items()}
    return node
