"""Train, evaluate, gate and register a tabular classifier — typedflow's main example.

Shows: typed artifacts (``TypedFile[CSV[Labelled]]``, a CSV with a column schema that every target
checks on the data; a user ``Format`` for model directories), a NamedTuple of outputs, data
validation that stops the run with a clear error, a ``when`` quality gate, and a registry entry that
links the model to its lineage by content digest.

Data: a dataset bundled with scikit-learn (``breast_cancer`` or ``wine``); no network. Run::

    typedflow run examples/train_tabular.py:train_tabular
    typedflow run examples/train_tabular.py:train_tabular --input dataset=wine --input C=0.5
    typedflow run examples/train_tabular.py:train_tabular --input min_class_fraction=0.45  # fails validation
    typedflow graph examples/train_tabular.py:train_tabular --format svg -o train_tabular.svg
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from typedflow import Format, TypedDirectory, TypedFile, task, when, workflow
from typedflow.formats import CSV
from typedflow.tables import Check, Columns


class Labelled(Columns):
    """A training table: float feature columns (which differ between datasets), then the label.

    The schema declares what every task relies on: an integer ``target`` that is never null nor
    negative. A task that returns such a table has all its rows checked; a task that receives one
    has its header checked before it runs.
    """

    target: Annotated[int, Check(ge=0)]


class ModelDir(Format):
    """A directory holding ``weights.json`` (a fitted scaler + logistic regression) and ``model.json``."""

    name = "sklearn-model-dir"
    schema_title = "system.Model"


class Split(NamedTuple):
    train: TypedFile[CSV[Labelled]]
    test: TypedFile[CSV[Labelled]]


class Metrics(NamedTuple):
    accuracy: float
    f1: float
    precision: float
    recall: float
    n_test: int


class TrainReport(NamedTuple):
    metrics: Metrics
    model: TypedDirectory[ModelDir]  # registered as <dataset>-<sha256[:12]> when it passed the gate


class DataValidationError(ValueError):
    """The input data is not fit for training; the message lists every failed check."""


DATASETS = ("breast_cancer", "wine")
TARGET = "target"


# ----------------------------------------------------------------------------- helpers (plain Python)


def read_table(path: str | Path) -> tuple[list[str], list[list[float]], list[int]]:
    """(feature names, rows, labels) of a CSV whose last column is the integer ``target``."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if r]
    return header[:-1], [[float(v) for v in r[:-1]] for r in rows], [int(float(r[-1])) for r in rows]


def write_table(path: str | Path, features: list[str], rows: list[list[float]], labels: list[int]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*features, TARGET])
        for r, y in zip(rows, labels, strict=True):
            w.writerow([repr(v) for v in r] + [y])


def save_weights(model: Any, path: Path) -> None:
    """The fitted scaler and classifier as plain JSON numbers: no pickle, readable anywhere."""
    scaler, clf = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    weights = {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": clf.coef_.tolist(),
        "intercept": clf.intercept_.tolist(),
        "classes": clf.classes_.tolist(),
    }
    path.write_text(json.dumps(weights, sort_keys=True) + "\n", encoding="utf-8")


def load_model(model: TypedDirectory[ModelDir]) -> Any:
    """Rebuild the fitted estimator from ``weights.json`` (no code is loaded from the artifact)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    w = json.loads((model / "weights.json").read_text(encoding="utf-8"))
    scaler, clf = StandardScaler(), LogisticRegression()
    scaler.mean_, scaler.scale_ = np.array(w["mean"]), np.array(w["scale"])
    scaler.var_, scaler.n_features_in_ = scaler.scale_**2, len(w["mean"])
    clf.coef_, clf.intercept_ = np.array(w["coef"]), np.array(w["intercept"])
    clf.classes_, clf.n_features_in_ = np.array(w["classes"]), len(w["mean"])
    return make_pipeline(scaler, clf)


# ----------------------------------------------------------------------------- tasks


@task
def ingest(dataset: str = "breast_cancer") -> TypedFile[CSV[Labelled]]:
    """Export a dataset bundled with scikit-learn to CSV (features..., target)."""
    from sklearn import datasets

    loaders = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}
    if dataset not in loaders:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    bunch = loaders[dataset]()
    features = [str(n).replace(" ", "_").replace("/", "_") for n in bunch.feature_names]
    out: TypedFile[CSV[Labelled]] = TypedFile.new(suffix=".csv")
    write_table(out.local_path(), features, bunch.data.tolist(), [int(y) for y in bunch.target])
    return out


@task
def validate(
    data: TypedFile[CSV[Labelled]], min_rows: int = 50, max_null_fraction: float = 0.0, min_class_fraction: float = 0.2
) -> TypedFile[CSV[Labelled]]:
    """Check schema, missing values and class balance; raise DataValidationError listing every failure."""
    problems: list[str] = []
    with data.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = [r for r in reader if r]
    if len(header) < 3 or header[-1] != TARGET:
        problems.append(f"schema: expected feature columns then {TARGET!r}, got header {header[:5]}...")
    if len(set(header)) != len(header):
        problems.append("schema: duplicate column names")
    ragged = sum(1 for r in rows if len(r) != len(header))
    if ragged:
        problems.append(f"schema: {ragged} rows do not have {len(header)} columns")
    if len(rows) < min_rows:
        problems.append(f"rows: {len(rows)} rows, fewer than min_rows={min_rows}")
    cells = sum(len(r) for r in rows) or 1
    nulls = sum(1 for r in rows for v in r if v.strip().lower() in ("", "nan", "null", "none"))
    if nulls / cells > max_null_fraction:
        problems.append(
            f"nulls: {nulls} empty or NaN cells ({nulls / cells:.2%}), above max_null_fraction={max_null_fraction:.2%}"
        )
    labels = [r[-1] for r in rows if r]
    counts = {y: labels.count(y) for y in sorted(set(labels))}
    if len(counts) < 2:
        problems.append(f"class balance: need at least 2 classes, found {len(counts)}")
    elif labels:
        smallest = min(counts, key=lambda y: counts[y])
        share = counts[smallest] / len(labels)
        if share < min_class_fraction:
            problems.append(
                f"class balance: class {smallest!r} is {share:.1%} of rows, below "
                f"min_class_fraction={min_class_fraction:.1%} (counts: {counts})"
            )
    if problems:
        raise DataValidationError("data validation failed: " + "; ".join(problems))
    return data


@task
def split(data: TypedFile[CSV[Labelled]], test_fraction: float = 0.25, seed: int = 0) -> Split:
    """Stratified train/test split into two CSVs."""
    from sklearn.model_selection import train_test_split

    features, rows, labels = read_table(data.local_path())
    x_tr, x_te, y_tr, y_te = train_test_split(rows, labels, test_size=test_fraction, random_state=seed, stratify=labels)
    train: TypedFile[CSV[Labelled]] = TypedFile.new(suffix=".csv")
    test: TypedFile[CSV[Labelled]] = TypedFile.new(suffix=".csv")
    write_table(train.local_path(), features, x_tr, y_tr)
    write_table(test.local_path(), features, x_te, y_te)
    return Split(train=train, test=test)


@task
def train(data: TypedFile[CSV[Labelled]], C: float = 1.0, max_iter: int = 2000) -> TypedDirectory[ModelDir]:
    """Fit a standardized logistic regression; save the estimator and a JSON description."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, rows, labels = read_table(data.local_path())
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    model.fit(rows, labels)
    out: TypedDirectory[ModelDir] = TypedDirectory.new()
    save_weights(model, out / "weights.json")
    meta = {
        "estimator": "StandardScaler+LogisticRegression",
        "params": {"C": C, "max_iter": max_iter},
        "features": features,
        "classes": sorted(set(labels)),
        "train_rows": len(rows),
        "train_data_sha256": data.sha256,
        "sklearn": sklearn.__version__,
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


@task
def evaluate(model: TypedDirectory[ModelDir], data: TypedFile[CSV[Labelled]]) -> Metrics:
    """Accuracy and macro-averaged F1/precision/recall on held-out data."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    _, rows, labels = read_table(data.local_path())
    pred = load_model(model).predict(rows)
    return Metrics(
        accuracy=float(accuracy_score(labels, pred)),
        f1=float(f1_score(labels, pred, average="macro")),
        precision=float(precision_score(labels, pred, average="macro", zero_division=0)),
        recall=float(recall_score(labels, pred, average="macro")),
        n_test=len(labels),
    )


# Registering is a side effect outside the artifact store: it must happen on every run that passes
# the gate (even when the registry was wiped), so a cached result must never stand in for it.
@task(cache=False)
def register(
    model: TypedDirectory[ModelDir],
    metrics: Metrics,
    train_data: TypedFile[CSV[Labelled]],
    registry: str = ".typedflow/registry",
    name: str = "model",
) -> str:
    """Copy the model into ``registry/name/<id>/`` with its metrics and lineage; return the model id."""
    if model.sha256 is None:
        raise ValueError("register needs a stored model (one produced by a task)")
    model_id = f"{name}-{model.sha256[:12]}"
    dest = Path(registry).absolute() / name / model_id
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model.local_path(), tmp / "model")
    if any(not math.isfinite(v) for v in metrics[:4]):
        raise ValueError(f"refusing to register a model with non-finite metrics: {metrics}")
    (tmp / "metrics.json").write_text(json.dumps(metrics._asdict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    # The run id is not visible inside a task, so the model is linked to its lineage by content: the
    # model and training-data sha256 and the code digests of the tasks that made it, which is what
    # `typedflow lineage` indexes artifacts and task records by.
    lineage = {
        "model_id": model_id,
        "model_sha256": model.sha256,
        "train_data_sha256": train_data.sha256,
        "code_digests": {t.name: t.template.code_digest for t in (train, evaluate, register)},
        "registered_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (tmp / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)  # same id = same model bytes: replacing it is idempotent
    tmp.rename(dest)
    with open(dest.parent / "index.jsonl", "a", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {
                    "model_id": model_id,
                    "accuracy": metrics.accuracy,
                    "f1": metrics.f1,
                    "registered_at": lineage["registered_at"],
                },
                sort_keys=True,
            )
            + "\n"
        )
    print(f"registered the model as {model_id} in {dest}")  # `typedflow run` shows it with the progress
    return model_id


# ----------------------------------------------------------------------------- workflow


@workflow
def train_tabular(
    dataset: str = "breast_cancer",
    test_fraction: float = 0.25,
    C: float = 1.0,
    min_accuracy: float = 0.9,
    min_class_fraction: float = 0.2,
    registry: str = ".typedflow/registry",
    seed: int = 0,
) -> TrainReport:
    """Ingest → validate → split → train → evaluate → (accuracy gate) → register."""
    raw = ingest(dataset)
    data = validate(raw, min_class_fraction=min_class_fraction)
    parts = split(data, test_fraction=test_fraction, seed=seed)
    model = train(parts.train, C=C)
    metrics = evaluate(model, parts.test)
    with when(metrics.accuracy >= min_accuracy):
        register(model, metrics, parts.train, registry=registry, name=dataset)
    # Only values that exist on every path are returned: a value from inside the `when` block would be
    # `str | None` out here, which not every target can pass on yet.
    return TrainReport(metrics=metrics, model=model)
