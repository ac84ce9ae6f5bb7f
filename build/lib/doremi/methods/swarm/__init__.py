"""The swarm of small runs that the fitted methods learn from (RegMix, the mixing law): the sampled
mixtures, the runs' table, the regressions and the search they share, and the `swarm` settings section.
"""
