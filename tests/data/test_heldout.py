"""The held-out evaluation set: spread over the split, tokens assigned to their documents."""

import numpy as np
import pytest

from doremi.data.heldout import heldout_set, spread_rows
from doremi.data.tokenizer import ByteTokenizer

EOD = 256


class FakeData:
    """A prepared run of one domain whose held-out stream is given."""

    def __init__(self, stream: list[int], seq_len: int):
        self.domains = ["only"]
        self.seq_len = seq_len
        self._chunks = np.array(stream, dtype=np.uint16).reshape(-1, seq_len + 1)

    def chunks(self, split, domain):
        return self._chunks


def test_every_target_token_belongs_to_the_document_it_is_in():
    # seq_len 4 (chunks of 5): document A = 7 bytes + EOD, document B = 6 bytes + EOD: 15 tokens, 3 chunks
    stream = [65] * 7 + [EOD] + [66] * 6 + [EOD]
    held = heldout_set(FakeData(stream, 4), None, EOD, ByteTokenizer().token_bytes())
    # targets are positions 1-4, 6-9, 11-14; A holds 1-7 (7 = its EOD), B holds 8-14
    assert held.doc.tolist() == [[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]]
    assert held.doc_tokens.tolist() == [6, 6]
    assert held.doc_bytes.tolist() == [5, 5]  # the EOD ids carry no bytes
    assert abs(held.bytes_per_token()["only"] - 10 / 12) < 1e-12
    assert held.describe()["whole_split"]


def test_a_capped_set_is_spread_over_the_whole_split():
    rows = spread_rows(1000, 10)
    assert len(rows) == 10 and rows[0] == 0 and rows[-1] == 999
    assert np.all(np.diff(rows) >= 110)  # evenly spaced, not the first ten
    assert spread_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert spread_rows(5, None).tolist() == [0, 1, 2, 3, 4]


def test_the_set_is_the_same_for_every_call(prepared):
    cfg, data = prepared
    one = heldout_set(data, 3, EOD, ByteTokenizer().token_bytes())
    two = heldout_set(data, 3, EOD, ByteTokenizer().token_bytes())
    assert np.array_equal(one.tokens, two.tokens) and np.array_equal(one.doc, two.doc)
    assert one.describe()["sequences"] == {d: min(3, n) for d, n in zip(data.domains, data.chunk_counts("val"))}
    # the batches carry each target token's document
    batch = one.batches(4)[0]
    assert batch["doc"].shape == batch["target"].shape


def test_the_swarm_s_part_is_disjoint_from_the_deciding_part_and_its_losses_are_read_there(prepared):
    cfg, data = prepared
    held = heldout_set(data, None, EOD, ByteTokenizer().token_bytes())
    first, second = held.parts()
    many = np.bincount(held.doc_domain) > 1
    assert not (first & second)[many[held.doc_domain]].any() and (first | second)[held.doc_tokens > 0].all()
    sums = held.doc_tokens * (1.0 + held.doc_domain) + np.where(first, 0.5, 0.0) * held.doc_tokens
    on_first, on_second = held.losses_on(sums, first), held.losses_on(sums, second)
    for i, domain in enumerate(held.domains):  # each half's loss is its own documents' nats over their tokens
        assert on_first[domain] == pytest.approx(1.5 + i) and (
            on_second[domain] == pytest.approx(1.0 + i) or not many[i]
        )
