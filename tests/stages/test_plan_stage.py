"""stage=plan end to end: a learned mixture made feasible for a larger run, with the search's cost."""

import json

import pytest

from doremi.config.errors import DoremiError
from doremi.data.mixture import load_mixture
from doremi.stages import run_stage
from tests.conftest import domains_override, synthetic_domains


@pytest.fixture
def learned(tmp_path, make_cfg):
    files = synthetic_domains(tmp_path / "src", {"prose": "words", "numbers": "digits"}, n_docs=100, seed=6)
    overrides = [domains_override(files), "trainer.max_steps=4", "checkpoint.every=0"]
    for stage in ("prepare", "reference", "proxy"):
        run_stage(make_cfg(*overrides, f"stage={stage}"))
    return overrides


def test_plan_caps_a_small_domain_and_states_the_cost(tmp_path, make_cfg, learned):
    weights = load_mixture(tmp_path / "mixtures" / "demo.json")
    available = {"prose": 10**9, "numbers": 10**6}
    (tmp_path / "tokens.json").write_text(json.dumps(available))
    budget = 10**8  # numbers: at most 4 epochs of 1e6 tokens = 0.04 of the budget
    run_stage(
        make_cfg(
            *learned,
            "stage=plan",
            f"plan.token_budget={budget}",
            f"plan.available={tmp_path / 'tokens.json'}",
            "plan.target_params=100000000",
        )
    )
    planned = json.loads((tmp_path / "mixtures" / "demo-plan.json").read_text())
    assert planned["weights"]["numbers"] == pytest.approx(0.04, abs=1e-12) and weights["numbers"] > 0.04
    assert planned["weights"]["prose"] == pytest.approx(0.96, abs=1e-12)
    provenance = planned["provenance"]
    assert provenance["binding"] == {"numbers": "max_epochs"} and provenance["epochs"]["numbers"] == pytest.approx(4)
    assert provenance["learned"] == pytest.approx(weights)
    cost = provenance["cost"]
    from doremi.training.model.gpt import GPT, GPTConfig

    n = GPT(GPTConfig(vocab_size=257, seq_len=32, n_layer=1, n_head=2, d_model=32)).num_params()
    tokens = 4 * 8 * 32  # steps x batch x sequence length, for the reference and the proxy alike
    assert cost["reference_flops"] == 6 * n * tokens and cost["proxy_flops"] == 8 * n * tokens
    assert cost["flops"] == pytest.approx(cost["reference_flops"] + cost["proxy_flops"])
    assert cost["share_of_target"] == pytest.approx(cost["flops"] / (6 * 10**8 * budget))
    from doremi.stages import report

    assert "cost: learning the mixture took" in report.run(make_cfg(*learned, "stage=report"))
    # a planned mixture is a normal mixture file: exports and final.mixture take it
    assert load_mixture(tmp_path / "mixtures" / "demo-plan.json") == pytest.approx(planned["weights"])


def test_plan_without_a_feasible_mixture_names_the_constraint(tmp_path, make_cfg, learned):
    with pytest.raises(DoremiError, match="max_epochs"):
        run_stage(make_cfg(*learned, "stage=plan", "plan.token_budget=1000000000000", "plan.max_epochs=1"))


def test_plan_converts_the_weights_to_another_tokenizers_token_shares(tmp_path, make_cfg, learned):
    import numpy as np

    from doremi.data.packing import PackedData
    from doremi.data.tokenizer import ByteTokenizer, train_bpe

    data = PackedData(tmp_path / "run" / "prepare")
    source = ByteTokenizer()
    texts = {}
    for d in data.domains:  # every training chunk, decoded document piece by document piece
        rows = np.asarray(data.chunks("train", d))
        ids = rows.reshape(-1)
        texts[d] = [
            source.decode(p[p != source.eod_id].tolist()) for p in np.split(ids, np.flatnonzero(ids == source.eod_id))
        ]
        texts[d] = [t for t in texts[d] if t]
    target = train_bpe([t for d in texts for t in texts[d]], 300)
    (tmp_path / "bpe").mkdir()
    target.save(tmp_path / "bpe")
    run_stage(
        make_cfg(
            *learned,
            "stage=plan",
            "plan.token_budget=1000",
            "plan.max_epochs=null",
            f"plan.tokenizer={tmp_path / 'bpe' / 'tokenizer.json'}",
        )
    )
    planned = json.loads((tmp_path / "mixtures" / "demo-plan.json").read_text())
    weights = load_mixture(tmp_path / "mixtures" / "demo.json")
    # counted: a learned share w_i of byte tokens is w_i x (target tokens / byte tokens) of the domain's text
    counted = {}
    for d in data.domains:
        byte_tokens = sum(len(t.encode("utf-8")) for t in texts[d])
        bpe_tokens = sum(len(ids) for ids in target.encode_batch(texts[d]))
        counted[d] = weights[d] * bpe_tokens / byte_tokens
    total = sum(counted.values())
    for d in data.domains:
        assert planned["weights"][d] == pytest.approx(counted[d] / total, abs=0.01)
    conversion = planned["provenance"]["tokenizer_conversion"]
    assert conversion["from_tokenizer"]["kind"] == "byte" and conversion["to_tokenizer"].endswith("tokenizer.json")
    assert conversion["bytes_per_token_from"] == pytest.approx({d: 1.0 for d in data.domains}, abs=0.05)
    learned_record = json.loads((tmp_path / "mixtures" / "demo.json").read_text())["provenance"]["bytes_per_token"]
    assert learned_record == pytest.approx({d: 1.0 for d in data.domains})  # ASCII text, one byte per byte token
    assert planned["weights"] != pytest.approx(weights, abs=0.01)  # BPE packs digits and words differently
