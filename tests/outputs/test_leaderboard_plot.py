"""The leaderboard plot states what the comparison can resolve: the asked-for resolution, else the median
half-width against stratified, as a band around 0 and in the title."""

import pytest

from doremi.outputs.report import plots


def board(resolution=None):
    judged = {"difference": 0.01, "interval": [-0.02, 0.04]}
    rows = [
        {"method": "stratified", "vs": {"natural": {"average": judged}}},
        {"method": "doremi", "vs": {"stratified": {"average": judged}, "natural": {"average": judged}}},
    ]
    out = {"rows": rows, "seeds": [0, 1, 2], "noise": {"median_detects": 0.026}}
    if resolution:
        out["resolution"] = {"resolution": resolution}
    return out


@pytest.mark.parametrize(
    "resolution, band, label", [(None, 0.026, "median half-width"), (0.02, 0.02, "compare.resolution")]
)
def test_the_plot_shows_the_resolution(tmp_path, monkeypatch, resolution, band, label):
    seen = {}

    def keep(fig, path):
        ax = fig.axes[0]
        seen["title"] = ax.get_title()
        seen["labels"] = ax.get_legend_handles_labels()[1]
        seen["spans"] = [ax.transData.inverted().transform(p.get_window_extent()) for p in ax.patches]
        return path

    monkeypatch.setattr(plots, "save", keep)
    plots.leaderboard(board(resolution), tmp_path / "leaderboard.png")
    assert f"resolves ±{band:.3f}" in seen["title"]
    assert any(label in text and f"±{band:.3f}" in text for text in seen["labels"])
    (span,) = seen["spans"]  # the band, in data coordinates: corners (x0, y0), (x1, y1)
    assert span[0][0] == pytest.approx(-band, abs=1e-6) and span[1][0] == pytest.approx(band, abs=1e-6)
