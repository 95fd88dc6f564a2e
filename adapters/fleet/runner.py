"""The fleet's :class:`~adapters.replaying.Replayer`: the commands call it exactly as they
call :func:`~adapters.replaying.replay_rules`, and get the same :class:`ReplayResult`.

A replay is two rounds of tasks: the listing of the many-file rules (one small task
each), then one task per share (:mod:`adapters.fleet.tasks`). Results are gathered as
they complete (a progress bar advances per task) and merged by key
(:mod:`adapters.fleet.merge`). A worker lost mid-run is Dask's to handle: the scheduler
re-runs its tasks elsewhere, and the merge by key keeps one result per share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from adapters.fleet import FleetUnavailable
from adapters.fleet.merge import merge_replay
from adapters.fleet.tasks import Batch, BatchResult, Keep, Listing, list_rule_files, replay_batch
from adapters.replaying import Fetched, RuleDone, ScheduledRule
from adapters.sources.base import Source
from detector.replay import ReplayResult

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["FILES_PER_TASK", "FleetReplayer", "Progress"]

FILES_PER_TASK = 8
"""Files of a many-file rule per task: enough series per task for the engine's
vectorised batches, small enough to spread a fleet over every worker."""

Progress = Callable[[str, int], AbstractContextManager[Callable[[str], None]]]
"""Opens a progress bar over a number of tasks (:func:`adapters.cli.progress.progress_bar`)."""


class FleetReplayer:
    """Replays rule sets on the cluster of ``client`` (see the module doc).

    ``keep``: which series the tasks send back (:class:`Keep`); ``progress``: a bar over
    the tasks of each replay, or ``None`` (a command that draws its own bar).
    """

    def __init__(
        self,
        client: Client,
        *,
        files_per_task: int = FILES_PER_TASK,
        keep: Keep = Keep.ALL,
        progress: Progress | None = None,
    ) -> None:
        if files_per_task < 1:
            raise ValueError("files_per_task must be at least 1")
        self.client = client
        self.files_per_task = files_per_task
        self.keep = keep
        self.progress = progress

    def __call__(
        self,
        rules: Sequence[ScheduledRule],
        sources: Mapping[str, Source],
        *,
        start: int,
        end: int,
        incident: int,
        on_rule_done: RuleDone | None = None,
        on_fetched: Fetched | None = None,
    ) -> ReplayResult:
        plan = list(rules)
        run = uuid.uuid4().hex[:12]
        listings = self._listings(plan, run)
        failed = {i: listing.error for i, listing in listings.items() if listing.error}
        batches = list(self._batches(plan, listings, start, end))
        # only the sources the rules use travel with the tasks (their settings, no data)
        used: dict[str, Source] = {
            name: sources[name] for name in {e.rule.source for e in plan} if name in sources
        }
        results = self._run(batches, used, run)
        return merge_replay(
            plan,
            results,
            start=start,
            end=end,
            incident=incident,
            failed=failed,
            on_rule_done=on_rule_done,
            on_fetched=on_fetched,
        )

    def _listings(self, plan: Sequence[ScheduledRule], run: str) -> dict[int, Listing]:
        files = {i: e for i, e in enumerate(plan) if e.rule.source == "file"}
        futures = {
            i: self.client.submit(list_rule_files, entry, key=f"graysignal-list-{run}-{i}")
            for i, entry in files.items()
        }
        try:
            return {i: future.result() for i, future in futures.items()}
        except (OSError, TimeoutError) as exc:
            raise FleetUnavailable(f"lost the Dask scheduler: {exc}") from None

    def _batches(
        self, plan: Sequence[ScheduledRule], listings: Mapping[int, Listing], start: int, end: int
    ) -> Iterator[Batch]:
        for i, entry in enumerate(plan):
            listing = listings.get(i, Listing())
            if listing.error is not None:
                continue
            if listing.files is None:
                yield Batch(i, 0, entry, None, start, end, self.keep)
                continue
            step = self.files_per_task
            for index, first in enumerate(range(0, len(listing.files), step)):
                files = listing.files[first : first + step]
                yield Batch(i, index, entry, files, start, end, self.keep)

    def _run(
        self, batches: Sequence[Batch], sources: Mapping[str, Source], run: str
    ) -> dict[tuple[int, int], BatchResult]:
        from distributed import as_completed  # noqa: PLC0415 - only for a fleet

        futures = [
            self.client.submit(
                replay_batch, b, sources, key=f"graysignal-replay-{run}-{b.rule}-{b.index}"
            )
            for b in batches
        ]
        names = {b.rule: b.entry.rule.signal for b in batches}
        results: dict[tuple[int, int], BatchResult] = {}
        bar = (
            self.progress("replaying tasks", len(futures))
            if self.progress is not None
            else nullcontext(_nothing)
        )
        try:
            with bar as step:
                for future in as_completed(futures, loop=self.client.loop):
                    part: BatchResult = future.result()
                    results[(part.rule, part.index)] = part  # a re-run replaces, never adds
                    step(f"{names[part.rule]} #{part.index + 1}")
        except (OSError, TimeoutError) as exc:
            raise FleetUnavailable(f"lost the Dask scheduler: {exc}") from None
        finally:
            for future in futures:
                future.release()
        return results


def _nothing(detail: str) -> None:
    """The step when no bar is drawn."""
