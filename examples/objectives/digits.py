"""A `function` objective: an SVM on scikit-learn's bundled digits (nothing is downloaded).

The study calls ``evaluate(config, budget)`` once per trial, in a supervised child process
of the trainer: ``config`` holds this trial's parameter values (the study file's
``[space.*]`` tables), ``budget`` its ``mode``, ``amount``, ``seed`` and ``trial_id``.
Return the metric as a number, or a dict with the metric and any extra numbers to record.
"""

from __future__ import annotations

from typing import Any

# Cross-validation folds: 3 keeps a trial under a second on one core, and the mean over
# folds is steady enough to rank configurations.
FOLDS = 3


def evaluate(config: dict[str, Any], budget: dict[str, Any]) -> dict[str, float]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    features, labels = load_digits(return_X_y=True)
    features = features / 16.0  # pixel intensities 0..16 -> 0..1
    model = SVC(C=config["C"], gamma=config["gamma"], kernel=config["kernel"])
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=budget["seed"])
    scores = cross_val_score(model, features, labels, cv=folds)
    return {"accuracy": float(scores.mean()), "accuracy_sd": float(scores.std())}
