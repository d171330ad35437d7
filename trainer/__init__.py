"""The fixed training harness: model, optimiser, data, budget, val_bpb, and the rq job.

The contract with the rest of the system is :mod:`trainer.spec` (no torch import there).
The trainer receives validated hyperparameters, never code.
"""
