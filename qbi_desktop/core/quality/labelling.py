"""Suggestions while labelling a project: an incremental exact kNN kept on a worker.

The Browser asks, again and again as labels come in, "what would the model say about every
unlabelled item, and which should be labelled next?". Refitting a kNN and querying 100 000 items
after every few labels would cost seconds; instead :class:`IncrementalKnn` keeps each unlabelled
item's k nearest labelled neighbours (exact, the project's :class:`L2Neighbors`) and, when new
labels arrive, only searches among the newly labelled rows and merges: the cost of an update
is (unlabelled items) x (new labels), not x (all labels). A label cleared (undo) or an item whose
neighbours lost theirs is searched again in full. A relabelled neighbour needs no search at
all: votes read the current labels.

:class:`LabellingSession` ties it to a project: each :meth:`LabellingSession.update_job` (one
worker task, its own catalog connection) reads the labels, computes features for a time budget
more items (labelled ones first, then the ones the user is looking at, then the rest; cached in
``cache/features.sqlite`` like the audit's), updates the kNN and returns a
:class:`SuggestionTable`: suggested class and confidence per unlabelled item and the "label
next" queue. The caller runs it again while ``pending`` items have no features yet, or when
labels changed. Only one update runs at a time (the state is not shared with the GUI thread:
the table returned is a snapshot).

:class:`RecentAccuracy` is the counter's "suggestion accuracy on the last 100 labels".
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qbi_desktop.core import limits
from qbi_desktop.core.baselines import L2Neighbors
from qbi_desktop.core.catalog.images import hash_array
from qbi_desktop.core.errors import UserFacingError, human_size
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality.audit import query_rows
from qbi_desktop.core.quality.features import RECIPE, FeatureCache, common_size, item_vector
from qbi_desktop.core.quality.suggest_models import LogisticModel, stored_model

K = 10
RANDOM_SHARE = 0.1  # of the queue: random picks keep the accuracy estimate honest
FEATURE_BUDGET_S = 1.0  # feature reading per update, so the first suggestions come early
NAMED = 20  # resized items named in the report (all are counted)


class IncrementalKnn:
    """Each query row's k nearest training rows, updated as training rows come and go.

    ``n`` items of ``d`` features; :meth:`put` gives item rows their feature vectors as they
    are computed (kept packed in arrival order: the labelled items, spread over a 100 000-item
    project, touch a few pages instead of the whole n x d matrix); ``y`` the class index per
    row (-1: unlabelled). Query rows are the unlabelled rows that have features.
    """

    def __init__(self, n: int, d: int, k: int = K):
        self.k = k
        self.F = np.empty((min(n, 4096), d), dtype=np.float32)  # packed feature rows
        self.slot = np.full(n, -1, dtype=np.int64)  # item row -> row of F
        self.count = 0
        self.have = np.zeros(n, dtype=bool)  # feature row computed
        self.train = np.zeros(n, dtype=bool)  # in the training set (labelled, with features)
        self.valid = np.zeros(n, dtype=bool)  # top-k up to date against the training set
        self.y = np.full(n, -1, dtype=np.int64)
        self.top_d = np.full((n, k), np.inf)
        self.top_i = np.full((n, k), -1, dtype=np.int64)

    @classmethod
    def from_matrix(cls, X: np.ndarray, k: int = K) -> IncrementalKnn:
        """Every row of ``X`` with its features (simulations, tests)."""
        knn = cls(len(X), X.shape[1], k)
        knn.put(np.arange(len(X)), X)
        return knn

    def put(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Feature vectors of item ``rows`` (each row once)."""
        rows = np.asarray(rows, dtype=np.int64)
        new = rows[self.slot[rows] < 0]
        if self.count + len(new) > len(self.F):
            grown = np.empty(
                (max(2 * len(self.F), self.count + len(new)), self.F.shape[1]), np.float32
            )
            grown[: self.count] = self.F[: self.count]
            self.F = grown
        self.slot[new] = np.arange(self.count, self.count + len(new))
        self.count += len(new)
        self.F[self.slot[rows]] = vectors
        self.have[rows] = True

    def features(self, rows: np.ndarray) -> np.ndarray:
        return self.F[self.slot[rows]]

    def update_job(self, y: np.ndarray) -> Job[None]:
        """Bring every unlabelled row's neighbours up to date with the labels ``y``."""
        self.y = np.asarray(y, dtype=np.int64)
        labelled = self.have & (self.y >= 0)
        added = np.flatnonzero(labelled & ~self.train)
        removed = self.train & ~labelled
        if removed.any():
            self.train &= ~removed
            # rows that counted a removed row among their neighbours: search them again
            hit = removed[np.where(self.top_i >= 0, self.top_i, 0)] & (self.top_i >= 0)
            self.valid[hit.any(axis=1)] = False
        query = self.have & (self.y < 0)
        stale = np.flatnonzero(query & ~self.valid)
        fresh = np.flatnonzero(query & self.valid)
        self.train[added] = True
        if len(added) and len(fresh):
            yield from self._merge(fresh, added)
        if len(stale):
            yield from self._search(stale)
        self.valid[np.flatnonzero(labelled)] = False  # not maintained while labelled

    def _search(self, rows: np.ndarray) -> Job[None]:
        train = np.flatnonzero(self.train)
        self.top_d[rows] = np.inf
        self.top_i[rows] = -1
        if len(train):
            nearest = _Nearest(self.features(train))
            k = min(self.k, len(train))
            step = query_rows(len(train))
            for s in range(0, len(rows), step):
                yield Progress(s, len(rows), "suggestions: nearest labelled items")
                part = rows[s : s + step]
                d, i = nearest(self.features(part), k)
                self.top_d[part, :k] = d
                self.top_i[part, :k] = train[i]
        self.valid[rows] = True

    def _merge(self, rows: np.ndarray, added: np.ndarray) -> Job[None]:
        nearest = _Nearest(self.features(added))
        k = min(self.k, len(added))
        step = query_rows(len(added))
        for s in range(0, len(rows), step):
            yield Progress(s, len(rows), "suggestions: new labels")
            part = rows[s : s + step]
            d, i = nearest(self.features(part), k)
            all_d = np.hstack([self.top_d[part], d])
            all_i = np.hstack([self.top_i[part], added[i]])
            # equal distances go to the lower row, as in a full search: the same neighbours
            order = np.lexsort((all_i, all_d), axis=-1)[:, : self.k]
            self.top_d[part] = np.take_along_axis(all_d, order, axis=1)
            self.top_i[part] = np.take_along_axis(all_i, order, axis=1)

    def proba(self, rows: np.ndarray, n_classes: int) -> np.ndarray:
        """Distance-weighted vote shares over the k nearest labelled rows (as the audit's)."""
        d, i = self.top_d[rows], self.top_i[rows]
        ok = i >= 0
        finite = d[ok]
        eps = 1e-3 * (float(np.median(finite)) if finite.size else 1.0) + 1e-12
        w = np.where(ok, 1.0 / (np.where(ok, d, 0.0) + eps), 0.0)
        labels = np.where(ok, self.y[np.where(ok, i, 0)], -1)
        w = np.where(labels >= 0, w, 0.0)
        c = max(1, n_classes)
        # one bincount over (row, class) cells: np.add.at per neighbour column holds the
        # interpreter lock ~10x longer on 100 000 rows, and the GUI thread waits for it
        cells = np.arange(len(rows))[:, None] * c + np.maximum(labels, 0)
        P = np.bincount(cells.ravel(), weights=w.ravel(), minlength=len(rows) * c)
        P = P.reshape(len(rows), c)
        total = P.sum(axis=1, keepdims=True)
        return np.divide(P, total, out=np.zeros_like(P), where=total > 0)


class _Nearest:
    """k nearest of a few rows (a batch of new labels) straight from float64 distances; many
    rows through the project's exact :class:`L2Neighbors` (float32 GEMM, float64 check).

    Both compute |x|^2 + |y|^2 - 2 x.y in float64 and break ties by the lower row, so a merge
    and a full search agree. With a handful of training rows every pair is a candidate of
    L2Neighbors' check, which then gathers (queries x rows) vectors: the direct path avoids it.
    """

    DIRECT = 512  # training rows up to which the direct float64 product is cheaper

    def __init__(self, Y: np.ndarray):
        self.direct = len(Y) <= self.DIRECT
        if self.direct:
            self.Y = np.asarray(Y, dtype=np.float64)
            self.norms = np.einsum("ij,ij->i", self.Y, self.Y)
        else:
            self.nn = L2Neighbors(Y)

    def __call__(self, X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.direct:
            return self.nn.kneighbors(X, k)
        X = np.asarray(X, dtype=np.float64)
        d2 = self.norms[None, :] - 2.0 * (X @ self.Y.T)
        d2 += np.einsum("ij,ij->i", X, X)[:, None]
        ind = np.argsort(d2, axis=1, kind="stable")[:, :k]
        return np.sqrt(np.maximum(np.take_along_axis(d2, ind, axis=1), 0.0)), ind


@dataclass
class SuggestionTable:
    """A snapshot for the Browser: per unlabelled item (ids sorted) its suggestion, and the
    queue. ``suggested`` is -1 where no model exists yet."""

    ids: np.ndarray
    suggested: np.ndarray
    confidence: np.ndarray
    class_names: list[str]
    queue: np.ndarray  # unlabelled item ids, "label next" order
    labelled: int  # items with a label
    unlabelled: int
    pending: int  # items whose features are not computed yet
    trained_on: int  # labelled items the model uses
    message: str = ""  # what is needed before suggestions can be made, or ""
    model: str = "knn"  # the key in suggest_models.MODELS of the model that made them
    resized: int = 0  # items resized or converted for the features
    resized_names: list[tuple[str, str]] = field(default_factory=list)  # the first few, why
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (item name, why)

    def lookup(self, item_id: int) -> tuple[str, float] | None:
        """(suggested class, confidence) of an unlabelled item, or None."""
        pos = int(np.searchsorted(self.ids, item_id))
        if pos >= len(self.ids) or self.ids[pos] != item_id:
            return None
        c = int(self.suggested[pos])
        if c < 0:
            return None
        return self.class_names[c], float(self.confidence[pos])


class RecentAccuracy:
    """Were the suggestions right? Over the last ``size`` labels the user gave."""

    def __init__(self, size: int = 100):
        self.recent: deque[bool] = deque(maxlen=size)

    def record(self, suggested: str | None, given: str) -> None:
        if suggested is not None:
            self.recent.append(suggested == given)

    def __len__(self) -> int:
        return len(self.recent)

    @property
    def value(self) -> float | None:
        return None if not self.recent else float(np.mean(self.recent))


def class_order(names: Sequence[str]) -> list[str]:
    """Numbers numerically ("2" before "10"), then text: the Browser's key order."""

    def key(s: str):
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)

    return sorted(names, key=key)


def queue_order(
    rows: np.ndarray, confidence: np.ndarray, random_share: float = RANDOM_SHARE, seed: int = 0
) -> np.ndarray:
    """``rows`` to label next: least confident first, every ``1/random_share``-th slot an
    item drawn at random (drawn up front, so the rest keep their confidence order).

    Vectorised (a 100 000-item queue in milliseconds), unlike the step-by-step
    :func:`~qbi_desktop.core.quality.suggest.label_next_order`; the same idea.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    by_confidence = np.argsort(confidence, kind="stable")
    if random_share <= 0 or n < 2:
        return rows[by_confidence]
    every = max(2, round(1 / random_share))
    slots = np.arange(1, n + 1)
    random_slots = np.flatnonzero(slots % every == 0)
    drawn = np.random.default_rng(seed).permutation(n)[: len(random_slots)]
    is_drawn = np.zeros(n, dtype=bool)
    is_drawn[drawn] = True
    out = np.empty(n, dtype=np.int64)
    out[random_slots] = rows[drawn]
    rest = np.ones(n, dtype=bool)
    rest[random_slots] = False
    out[rest] = rows[by_confidence[~is_drawn[by_confidence]]]
    return out


class LabellingSession:
    """Suggestions for one project, kept up to date by :meth:`update_job` (see the module
    docstring). Not thread-safe: one update at a time."""

    def __init__(
        self,
        root: Path,
        k: int = K,
        random_share: float = RANDOM_SHARE,
        seed: int = 0,
        model: str | None = None,
        read_only: bool = False,
    ):
        self.root = Path(root)
        #: the session's catalog connection refuses writes (a child process beside the GUI's)
        self.read_only = read_only
        self.k, self.random_share, self.seed = k, random_share, seed
        #: "knn" or "logistic" (suggest_models.MODELS); None: the one stored in the project
        self.model = model
        self.logistic = LogisticModel()
        self.ids = np.zeros(0, dtype=np.int64)
        self.knn: IncrementalKnn | None = None
        self.size: tuple[int, int] = (0, 0)
        self.class_names: list[str] = []
        self.resized = 0
        self.resized_names: list[tuple[str, str]] = []
        self.left_out: list[tuple[str, str]] = []
        self.failed = np.zeros(0, dtype=bool)
        self.updates = 0
        self._project = None  # the session's own catalog connection (see _update)
        self._busy = self._closed = False

    def update_job(
        self, priority: Sequence[int] = (), budget_s: float = FEATURE_BUDGET_S
    ) -> Job[SuggestionTable]:
        from threadpoolctl import threadpool_limits

        self._busy = True
        try:
            # one BLAS thread: the products here are small, and on a busy 2-core machine
            # spinning BLAS threads made a 536 x 1 000 search take 0.5 s instead of 10 ms and
            # took the core the GUI thread needed
            with threadpool_limits(limits=1, user_api="blas"):
                return (yield from self._update(priority, budget_s))
        finally:
            self._busy = False
            if self._closed:
                self.close()

    def close(self) -> None:
        """Close the session's catalog connection (now, or when the running update ends)."""
        self._closed = True
        if not self._busy and self._project is not None:
            self._project.close()
            self._project = None

    def _update(self, priority: Sequence[int], budget_s: float) -> Job[SuggestionTable]:
        from qbi_desktop.core.catalog import open_project

        yield Progress(0, 0, "suggestions: reading labels")
        # kept open between updates (one at a time, on whichever worker thread): opening
        # checks the catalog's pages, ~0.2 s on 100 000 items, for every few labels typed
        if self._project is None:
            self._project = open_project(self.root)
            if self.read_only:
                self._project.db.execute("PRAGMA query_only = ON")
        project = self._project
        # ids and labels only, each time (hashes and places with each chunk of features)
        rows = project.db.execute("SELECT id, label FROM items ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if self.knn is None or not np.array_equal(ids, self.ids):
            self._reset(project, ids)
        assert self.knn is not None
        labels = [r[1] for r in rows]
        for name in class_order({v for v in labels if v is not None}):
            if name not in self.class_names:
                self.class_names.append(name)  # append only: indices stay
        index = {c: n for n, c in enumerate(self.class_names)}
        y = np.fromiter(
            (-1 if v is None else index[v] for v in labels), dtype=np.int64, count=len(rows)
        )
        yield from self._features(project, y, priority, budget_s)
        model = self.model or stored_model(project.db)
        knn = self.knn
        present = len(set(y[knn.have & (y >= 0)].tolist()))
        message = ""
        unl = np.flatnonzero(y < 0)
        suggested = np.full(len(unl), -1, dtype=np.int64)
        confidence = np.zeros(len(unl))
        if present < 2:
            message = (
                f"suggestions need labels of at least two classes (found {present} among the "
                "items read so far): label a few items of each class"
            )
            yield from knn.update_job(np.full(len(y), -1))  # nothing to learn from yet
            scored = np.zeros(len(unl), dtype=bool)
            trained_on = 0
        elif model == "logistic":
            scored, trained_on = yield from self._logistic(y, unl, suggested, confidence)
        else:
            yield from knn.update_job(y)
            scored = knn.have[unl] & knn.valid[unl] & (knn.top_i[unl, 0] >= 0)
            trained_on = int(knn.train.sum())
            if scored.any():
                P = knn.proba(unl[scored], len(self.class_names))
                suggested[scored] = P.argmax(axis=1)
                confidence[scored] = P.max(axis=1)
        self.updates += 1
        # items without a suggestion yet wait behind every scored one
        queue_rows = np.concatenate(
            [
                queue_order(
                    unl[scored], confidence[scored], self.random_share, self.seed + self.updates
                ),
                unl[~scored],
            ]
        )
        return SuggestionTable(
            ids=self.ids[unl],
            suggested=suggested,
            confidence=confidence,
            class_names=list(self.class_names),
            queue=self.ids[queue_rows],
            labelled=int((y >= 0).sum()),
            unlabelled=len(unl),
            pending=int((~knn.have & ~self.failed).sum()),
            trained_on=trained_on,
            message=message,
            model=model,
            resized=self.resized,
            resized_names=list(self.resized_names),
            left_out=list(self.left_out),
        )

    def _logistic(
        self, y: np.ndarray, unl: np.ndarray, suggested: np.ndarray, confidence: np.ndarray
    ) -> Job[tuple[np.ndarray, int]]:
        """Logistic regression on the labelled items read so far (refitted only when they
        changed), probabilities for the unlabelled ones read; fills ``suggested`` and
        ``confidence``. Returns which of ``unl`` are scored and how many labels it used."""
        knn = self.knn
        train = np.flatnonzero(knn.have & (y >= 0))
        yield Progress(0, 0, f"suggestions: logistic regression on {len(train):,} labels")
        self.logistic.fit(train, knn.features(train), y[train])
        scored = knn.have[unl]
        rows = unl[scored]
        out = np.flatnonzero(scored)
        step = 20_000
        for s in range(0, len(rows), step):
            yield Progress(s, len(rows), "suggestions: logistic regression")
            P = self.logistic.proba(knn.features(rows[s : s + step]), len(self.class_names))
            suggested[out[s : s + step]] = P.argmax(axis=1)
            confidence[out[s : s + step]] = P.max(axis=1)
        return scored, len(train)

    def _reset(self, project, ids: np.ndarray) -> None:
        """A new item set: the common size, the kNN's arrays (the feature matrix it may grow
        to checked against the memory limit)."""
        # the most common size, as common_size finds it, counted by SQLite (no 100 000 rows)
        top = project.db.execute(
            "SELECT height, width FROM items WHERE height > 0 AND width > 0 "
            "GROUP BY height, width ORDER BY COUNT(*) DESC, height, width LIMIT 1"
        ).fetchone()
        self.size = common_size([(int(top[0]), int(top[1]))] if top else [])
        d = self.size[0] * self.size[1]
        need = len(ids) * d * 4
        limit = limits.current().decoded_bytes
        if need > limit:
            raise UserFacingError(
                f"{self.root}: suggestions for {len(ids)} items at {self.size[0]}x{self.size[1]} "
                f"need {human_size(need)}, above the limit of {human_size(limit)} "
                f"(decoded_bytes); {limits.how_to_raise('decoded_bytes')}"
            )
        old = dict(zip(self.ids.tolist(), range(len(self.ids)), strict=True))
        knn = IncrementalKnn(len(ids), d, self.k)
        if self.knn is not None and self.knn.F.shape[1] == d:  # items added or removed
            keep = [(n, old[i]) for n, i in enumerate(ids.tolist()) if i in old]
            keep = [(n, o) for n, o in keep if self.knn.have[o]]
            if keep:
                new_pos, old_pos = map(np.asarray, zip(*keep, strict=True))
                knn.put(new_pos, self.knn.features(old_pos))
        failed = np.zeros(len(ids), dtype=bool)
        self.ids, self.knn, self.failed = ids, knn, failed

    def _features(
        self,
        project,
        y: np.ndarray,
        priority: Sequence[int],
        budget_s: float,
    ) -> Job[None]:
        """Compute feature rows until the budget is spent: labelled, then ``priority``, rest."""
        knn = self.knn
        assert knn is not None
        todo_mask = ~knn.have & ~self.failed
        if not todo_mask.any():
            return
        first = np.flatnonzero(todo_mask & (y >= 0))
        wanted = np.asarray(list(priority), dtype=np.int64)
        pos = np.searchsorted(self.ids, wanted)
        inside = pos < len(self.ids)
        pos = pos[inside][self.ids[pos[inside]] == wanted[inside]]
        pos = pos[todo_mask[pos]]
        # the very first update reads only the labelled items and those in view: the first
        # suggestions come in a second or two on a 100 000-item project; the rest follow
        wanted_first = len(first) + len(pos) if self.updates == 0 else 0
        order = np.concatenate([first, pos, np.flatnonzero(todo_mask)])
        _, once = np.unique(order, return_index=True)
        order = order[np.sort(once)]
        recipe = f"{RECIPE}:{self.size[0]}x{self.size[1]}"
        d = self.size[0] * self.size[1]
        cache = FeatureCache(project)
        start = time.perf_counter()
        try:
            chunk = 512
            for s in range(0, len(order), chunk):
                if s and (s >= wanted_first > 0 or time.perf_counter() - start > budget_s):
                    break
                yield Progress(s, len(order), "suggestions: features")
                part = order[s : s + chunk]
                # each item's hash (the cache's key) and place, in one query per chunk
                found = {
                    r[0]: r[1:]
                    for r in project.db.execute(
                        "SELECT id, hash, path, container_id, idx FROM items WHERE id IN "
                        "(SELECT value FROM json_each(?))",
                        (json.dumps(self.ids[part].tolist()),),
                    )
                }
                places = [found.get(int(self.ids[p]), (None, None, None, None)) for p in part]
                hashes = [place[0] for place in places]
                known = cache.get_many([h for h in hashes if h], recipe)
                fresh = []
                got_rows: list[int] = []
                got: list[np.ndarray] = []
                for n, (p, h, place) in enumerate(zip(part.tolist(), hashes, places, strict=True)):
                    # hand the interpreter lock over now and then: the GUI thread needs it
                    # for every Python slot, and would otherwise wait out the 5 ms interval
                    # (every 64 items: each sleep also gives the core away on a busy machine)
                    if n % 64 == 0:
                        time.sleep(0)
                    hit = known.get(h) if h else None
                    if hit is not None and len(hit[2]) == 4 * d:
                        vector = np.frombuffer(hit[2], dtype=np.float32)
                        note = hit[1]
                    else:
                        try:
                            if place[1] is None and place[2] is None:
                                raise UserFacingError("the item is no longer in the project")
                            image = np.asarray(project._pixels(project.db, *place[1:]))
                            row, note = item_vector(image, self.size)
                        except (UserFacingError, OSError, ValueError) as exc:
                            self.failed[p] = True
                            self.left_out.append(
                                (
                                    _name(project, int(self.ids[p])),
                                    f"could not be read or used: {exc}",
                                )
                            )
                            continue
                        vector = row
                        if h:
                            fresh.append((h, recipe, hash_array(image), note, row.tobytes()))
                    got_rows.append(p)
                    got.append(vector)
                    if note:
                        self.resized += 1
                        if len(self.resized_names) < NAMED:
                            self.resized_names.append((_name(project, int(self.ids[p])), note))
                if got_rows:
                    knn.put(np.asarray(got_rows), np.stack(got))
                cache.put_many(fresh)
        finally:
            cache.close()


def _name(project, item_id: int) -> str:
    row = project.db.execute("SELECT name FROM items WHERE id = ?", (item_id,)).fetchone()
    return str(row[0]) if row else f"item {item_id}"
