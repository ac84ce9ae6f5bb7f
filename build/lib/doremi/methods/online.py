"""What every online method shares, torch-free: the `online` settings section, the schedule file it writes
(schedule.jsonl: step, weights) and replays, and its section of the report. The callback they share is
doremi.methods.scheduled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from doremi.config.fields import Number, s
from doremi.methods.base import ReportContext
from doremi.store.files import read_jsonl


@dataclass
class Online:
    """method=odm: weights that adapt inside the final run (doremi.methods.odm.bandit)."""

    every: int = s(10, "optimizer steps between updates of the weights", ge=1)
    smoothing: Number = s(0.9, "alpha of the smoothed importance-weighted reward (ODM)", ge=0, lt=1)
    replay: Optional[str] = s(None, "a schedule.jsonl to follow instead of updating (draws the same batches)")


SECTION = (
    "online",
    Online,
    "online methods: the schedule's updates (odm) and a recorded schedule to replay (every online method)",
)


def read_schedule(path: Path) -> list[dict]:
    return read_jsonl(path)


def schedule_files(ctx: ReportContext) -> list:
    """The schedules of the final run's seeds (or of stage=compare's)."""
    name = ctx.mixture["provenance"]["method"]
    found = sorted(ctx.locate("final_models").glob(f"{name}/seed-*/schedule.jsonl"))
    return found or sorted(ctx.locate("leaderboard").parent.glob(f"{name}/seed-*/schedule.jsonl"))


def schedule_report(ctx: ReportContext, by: str) -> list:
    """An online method's section: the schedule of the first seed of the final run (or of stage=compare), plotted,
    its weights `by` what moved them (each online method says what)."""
    from doremi.outputs.report import plots

    mixture, folder = ctx.mixture, ctx.folder
    found = schedule_files(ctx)
    if not found:
        return [("Online weights", ["The weights change during the final run; run stage=final to see them."])]
    schedule = read_jsonl(found[0])
    plots.weights_over_steps(mixture["domains"], schedule, folder / "schedule.png", steps_of="final run")
    online = mixture["provenance"]["online"]
    return [
        (
            "Online weights",
            [
                f"The sampler's weights during the final run ({found[0].parent.name}), updated every "
                f"{online['every']} steps by {by}; {len(schedule)} entries in "
                f"{found[0].name}; dashed: the running average over updates.",
                {"src": "schedule.png", "alt": "online weights over the final run's steps"},
            ],
        )
    ]
