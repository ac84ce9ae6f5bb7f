"""Selection toward a target: each target example in turn takes its most similar pool example not yet taken."""

import numpy as np

from doremi.sft.methods.base import round_robin


def test_every_target_example_gets_its_nearest_before_any_gets_a_second():
    # pool rows 0-3 resemble target 0 (decreasingly), rows 4-5 target 1; a mean over the targets would take 0-3 first
    similarity = np.array([[0.9, 0.1], [0.8, 0.1], [0.7, 0.1], [0.6, 0.1], [0.2, 0.5], [0.2, 0.4]])
    assert round_robin(similarity, 2) == [0, 4]
    assert round_robin(similarity, 4) == [0, 4, 1, 5]
    # a target whose candidates are all taken lets the others go on; the budget caps it; never a row twice
    assert round_robin(similarity, 6) == [0, 4, 1, 5, 2, 3]
    assert round_robin(similarity, 10) == [0, 4, 1, 5, 2, 3]
