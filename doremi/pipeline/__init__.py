"""What the stage recipes share and are not recipes themselves: the stage table (`graph.py`: what every stage
reads, writes and is fingerprinted by), a stage's output folder and its skip/overwrite rules (`common.py`), the
prepared data (`prepared.py`), and the SFT stages' pools, base model and set files (`sft_sets.py`). Imports the
folders below it, never a recipe."""
