"""Models and training: the models doremi trains (`model`: the built-in GPT or a transformers causal LM)
and the PyTorch Lightning modules, callbacks and loops that train and score them, for every method alike.

May import: doremi.config, doremi.data, doremi.store, doremi.config.errors. Never a method or a stage: what a
method changes during training (Group DRO, an online mixer) lives in its folder under doremi.methods.
"""
