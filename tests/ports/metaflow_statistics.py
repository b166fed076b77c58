"""Metaflow's tutorial 02-statistics (``MovieStatsFlow``): per-genre box-office quartiles of a movie table.

``IncludeFile`` is a typed table input, ``TypedFile[CSV[Movies]]`` (checked on its header and rows);
``start`` finds the genres; the ``foreach`` over them is ``map_over`` of ``compute_statistics`` with
the table bound by ``functools.partial``; ``join`` merges the per-genre results into a dict keyed by
the genre in lower case. Artifacts on ``self`` become typed values: a genre's filtered table is a
``GenreFrame`` record, its statistics a ``GenreStats``. The genres come sorted (the original's come from
a set, in no particular order). The original's logic is kept as it is, including that a movie is in
a genre when the genre's name is a substring of its ``genres`` field.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import CSV
from typedflow.tables import Columns


class Movies(Columns):
    movie_title: str
    title_year: int
    genres: str
    gross: int


class GenreFrame(NamedTuple):
    movie_title: list[str]
    genres: list[str]
    gross: list[int]


class GenreStats(NamedTuple):
    genre: str
    quartiles: list[int]
    dataframe: GenreFrame


@task
def start(movie_data: TypedFile[CSV[Movies]]) -> list[str]:
    genres = movie_data.read_table().column("genres").to_pylist()
    return sorted({g for gs in genres for g in gs.split("|")})


@task
def compute_statistics(movie_data: TypedFile[CSV[Movies]], genre: str) -> GenreStats:
    table = movie_data.read_table().to_pydict()
    rows = [
        (title, genres, gross)
        for title, genres, gross in zip(table["movie_title"], table["genres"], table["gross"], strict=True)
        if genre in genres
    ]
    rows.sort(key=lambda r: r[2])
    gross = [r[2] for r in rows]
    quartiles = [gross[0 if len(rows) < 2 else round(len(rows) * cut)] for cut in (0.25, 0.5, 0.75)]
    frame = GenreFrame([r[0] for r in rows], [r[1] for r in rows], gross)
    return GenreStats(genre=genre, quartiles=quartiles, dataframe=frame)


@task
def join(stats: list[GenreStats]) -> dict[str, GenreStats]:
    return {s.genre.lower(): s for s in stats}


@workflow
def movie_stats(movie_data: TypedFile[CSV[Movies]]) -> dict[str, GenreStats]:
    per_genre = map_over(functools.partial(compute_statistics, movie_data), start(movie_data))
    return join(per_genre)


def reference(csv_text: str) -> dict[str, dict[str, object]]:
    """The original's steps in plain Python on the CSV text: {genre: {quartiles, dataframe}}."""
    import csv

    columns = ["movie_title", "title_year", "genres", "gross"]
    frame: dict[str, list[object]] = {c: [] for c in columns}
    for row in csv.DictReader(csv_text.splitlines()):
        for c in columns:
            frame[c].append(int(row[c]) if c in ("title_year", "gross") else row[c])
    genres = {g for gs in frame["genres"] for g in str(gs).split("|")}
    result: dict[str, dict[str, object]] = {}
    for genre in genres:
        selector = [genre in str(gs) for gs in frame["genres"]]
        df = {c: [v for v, keep in zip(vals, selector, strict=True) if keep] for c, vals in frame.items()}
        order = sorted(range(len(df["gross"])), key=df["gross"].__getitem__)  # type: ignore[arg-type]
        df = {c: [vals[i] for i in order] for c, vals in df.items()}
        del df["title_year"]
        n = len(df["movie_title"])
        quartiles = [df["gross"][0 if n < 2 else round(n * cut)] for cut in (0.25, 0.5, 0.75)]
        result[genre.lower()] = {"quartiles": quartiles, "dataframe": df}
    return result
