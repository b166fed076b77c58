"""Flyte's FlyteFile example (flytesnacks ``data_types_and_io/file.py``): z-score some columns of a CSV file.

A typed ``TypedFile[CSV]`` in and out. The original reads the file with the column names it is given
(skipping the header) and writes the normalised columns to a new CSV; ``TypedFile.new`` gives the new
file and the artifact store keeps it by content, so the original's ``output_location`` (where to
upload the result) has no counterpart: the run's store decides where files live.
"""

from __future__ import annotations

import csv
import io

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV


def normalized_csv(text: str, column_names: list[str], columns_to_normalize: list[str]) -> str:
    """The z-scored columns of a CSV text as CSV text (shared by the task and the reference)."""
    values: dict[str, list[float]] = {c: [] for c in columns_to_normalize}
    reader = csv.DictReader(io.StringIO(text, newline=""), fieldnames=column_names)
    next(reader)  # the header
    for row in reader:
        for c in columns_to_normalize:
            values[c].append(float(row[c].strip()))
    scaled = {}
    for c, xs in values.items():
        mean = sum(xs) / len(xs)
        std = (sum((x - mean) ** 2 for x in xs) / len(xs)) ** 0.5
        scaled[c] = [(x - mean) / std for x in xs]
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns_to_normalize)
    writer.writeheader()
    for values_of_row in zip(*scaled.values(), strict=True):
        writer.writerow(dict(zip(columns_to_normalize, values_of_row, strict=True)))
    return out.getvalue()


@task
def normalize_columns(
    csv_file: TypedFile[CSV], column_names: list[str], columns_to_normalize: list[str]
) -> TypedFile[CSV]:
    out = TypedFile.new(suffix=".csv")
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(normalized_csv(csv_file.read_text(), column_names, columns_to_normalize))
    return out


@workflow
def normalize_csv_file(
    csv_file: TypedFile[CSV], column_names: list[str], columns_to_normalize: list[str]
) -> TypedFile[CSV]:
    return normalize_columns(csv_file, column_names, columns_to_normalize)


def reference(text: str, column_names: list[str], columns_to_normalize: list[str]) -> list[dict[str, float]]:
    """The normalised rows, computed column by column in plain Python (statistics.pstdev)."""
    import statistics

    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    cols = {c: [float(r[column_names.index(c)]) for r in rows] for c in columns_to_normalize}
    z = {c: [(x - statistics.fmean(xs)) / statistics.pstdev(xs) for x in xs] for c, xs in cols.items()}
    return [dict(zip(z, vals, strict=True)) for vals in zip(*z.values(), strict=True)]
