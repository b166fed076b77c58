"""Flyte's FlyteDirectory example (flytesnacks ``data_types_and_io/folder.py``): normalise every CSV in a folder.

``download_files`` fetched URLs into a folder; with no network the port's first task gathers the CSV
files it is given (``list[TypedFile[CSV]]``) into a ``TypedDirectory[CSV]``, prefixing each name with
its zero-padded index to keep their order, as the original does. ``normalize_all_files`` then
z-scores the chosen columns of each file. The original rewrites the files in place; a task's inputs
are read-only here (a task that changes one fails), so it writes a new directory.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from typedflow import TypedDirectory, TypedFile, task, workflow
from typedflow.formats import CSV


def _normalize(text: str, column_names: list[str], columns_to_normalize: list[str]) -> str:
    values: dict[str, list[float]] = {c: [] for c in columns_to_normalize}
    for i, row in enumerate(csv.DictReader(io.StringIO(text, newline=""), fieldnames=column_names)):
        if i > 0:  # the header
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
def gather_files(csv_files: list[TypedFile[CSV]]) -> TypedDirectory[CSV]:
    out = TypedDirectory.new()
    width = len(str(len(csv_files)))
    for i, f in enumerate(csv_files):
        shutil.copyfile(f.local_path(), out / f"{str(i).zfill(width)}_{f.local_path().name}")
    return out


@task
def normalize_all_files(
    csv_files_dir: TypedDirectory[CSV],
    columns_metadata: list[list[str]],
    columns_to_normalize_metadata: list[list[str]],
) -> TypedDirectory[CSV]:
    out = TypedDirectory.new()
    files = sorted(Path(csv_files_dir).iterdir())  # sorted: the order of the files given
    for path, names, chosen in zip(files, columns_metadata, columns_to_normalize_metadata, strict=True):
        (out / path.name).write_text(_normalize(path.read_text(encoding="utf-8"), names, chosen), encoding="utf-8")
    return out


@workflow
def download_and_normalize_csv_files(
    csv_files: list[TypedFile[CSV]],
    columns_metadata: list[list[str]],
    columns_to_normalize_metadata: list[list[str]],
) -> TypedDirectory[CSV]:
    folder = gather_files(csv_files)
    return normalize_all_files(folder, columns_metadata, columns_to_normalize_metadata)


def reference(
    texts: list[str], columns_metadata: list[list[str]], columns_to_normalize_metadata: list[list[str]]
) -> list[list[dict[str, float]]]:
    """Each file's normalised rows, in the order of the files, computed in plain Python."""
    import statistics

    result = []
    for text, names, chosen in zip(texts, columns_metadata, columns_to_normalize_metadata, strict=True):
        rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
        cols = {c: [float(r[names.index(c)]) for r in rows] for c in chosen}
        z = {c: [(x - statistics.fmean(xs)) / statistics.pstdev(xs) for x in xs] for c, xs in cols.items()}
        result.append([dict(zip(z, vals, strict=True)) for vals in zip(*z.values(), strict=True)])
    return result
