"""Data: reading corpora (files, globs, the hub), tokenizing and packing them per domain, the held-out split,
mixture files (`mixture`) and the whole-count allocation of weights (`alloc`), and sampling batches by
mixture weights (MixtureSampler, the loaders trainers of your own can use).

May import: doremi.store, doremi.config.errors. Never training, a method or a stage."""
