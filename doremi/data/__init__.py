"""Data: reading corpora (files, globs, the hub), tokenizing and packing them per domain, the held-out split,
and sampling batches by mixture weights (MixtureSampler, the loaders trainers of your own can use). Imports
only doremi's own plain modules (errors, files, mixture), never training or stages."""
