"""stage=eval: lm-evaluation-harness on every final model, with a task on local data the test writes."""

from __future__ import annotations

import json

import pytest

from tests.training.model.test_hf import hf_cfg

TASK = """task: doremi_local_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.mark.slow
def test_eval_stage_scores_every_final_model_on_a_local_task(tmp_path):
    from doremi.stages import run_stage

    rows = [
        {"question": f"{i} plus {i} is", "choices": [f" {2 * i}", f" {2 * i + 1}"], "answer": i % 2} for i in range(12)
    ]
    data = tmp_path / "tasks" / "choice.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks" / "choice.yaml").write_text(TASK.format(data=data))
    overrides = ["eval.tasks=[doremi_local_choice]", f"eval.include_path={tmp_path / 'tasks'}", "eval.num_fewshot=0"]
    cfg = hf_cfg(tmp_path, *overrides, "final.seeds=2")
    for stage in ("all", "eval", "report"):
        run_stage(cfg.copy() if stage == "all" else _with(cfg, stage))
    downstream = json.loads((tmp_path / "run" / "final" / "downstream.json").read_text())
    assert downstream["tasks"] == ["doremi_local_choice"]
    assert set(downstream["seeds"]) == {"doremi", "stratified", "natural"}
    for mixture, per_seed in downstream["seeds"].items():
        assert set(per_seed) == {"0", "1"}
        accs = [per_seed[s]["doremi_local_choice"]["acc"] for s in per_seed]
        assert all(0 <= a <= 1 and (a * 12).is_integer() for a in accs)  # a share of the 12 questions
        mean = downstream["mean"][mixture]["doremi_local_choice"]["acc"]
        assert mean == pytest.approx(sum(accs) / 2)
    report = (tmp_path / "rep" / "demo" / "report.md").read_text()
    assert "## Downstream tasks" in report and "doremi_local_choice" in report


def _with(cfg, stage):
    from omegaconf import open_dict

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.stage = stage
    return cfg
