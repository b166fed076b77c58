"""Metaflow's tutorial 01-playlist (``PlayListFlow``): a playlist of one genre and a bonus movie of another.

``start`` parses the movie table (a typed ``TypedFile[CSV[MovieRow]]`` input) into a ``Frame`` record;
the two parallel branches (``bonus_movie`` and ``genre_movies``) both read it and run concurrently
(independent nodes); the join and ``end`` become one task that takes both branches' values and keeps
the first ``recommendations`` picks. The original draws at random; the port's draws take a seed so
that a run can be compared with the same logic in Python.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from typedflow import TypedFile, task, workflow
from typedflow.formats import CSV
from typedflow.tables import Columns


class MovieRow(Columns):
    movie_title: str
    genres: str


class Frame(NamedTuple):
    movie_title: list[str]
    genres: list[str]


class Bonus(NamedTuple):
    movie: str
    genres: str


class Playlist(NamedTuple):
    genre: str
    picks: list[str]
    bonus: Bonus


@task
def start(movie_data: TypedFile[CSV[MovieRow]]) -> Frame:
    table = movie_data.read_table(columns=MovieRow).to_pydict()
    return Frame(table["movie_title"], table["genres"])


@task
def bonus_movie(frame: Frame, genre: str, seed: int) -> Bonus:
    movies = [(m, g) for m, g in zip(frame.movie_title, frame.genres, strict=True) if genre.lower() not in g.lower()]
    return Bonus(*random.Random(seed).choice(movies))


@task
def genre_movies(frame: Frame, genre: str, seed: int) -> list[str]:
    movies = [m for m, g in zip(frame.movie_title, frame.genres, strict=True) if genre.lower() in g.lower()]
    random.Random(seed).shuffle(movies)
    return movies


@task
def end(genre: str, movies: list[str], bonus: Bonus, recommendations: int) -> Playlist:
    picks = movies[:recommendations]
    print(f"Playlist for movies in genre '{genre}'")
    for pick, movie in enumerate(picks, start=1):
        print(f"Pick {pick}: '{movie}'")
    print(f"Bonus Pick: '{bonus.movie}' from '{bonus.genres}'")
    return Playlist(genre, picks, bonus)


@workflow
def playlist(
    movie_data: TypedFile[CSV[MovieRow]], genre: str = "Sci-Fi", recommendations: int = 5, seed: int = 0
) -> Playlist:
    frame = start(movie_data)
    bonus = bonus_movie(frame, genre, seed)
    movies = genre_movies(frame, genre, seed)
    return end(genre, movies, bonus, recommendations)


def reference(csv_text: str, genre: str = "Sci-Fi", recommendations: int = 5, seed: int = 0) -> Playlist:
    import csv

    rows = list(csv.DictReader(csv_text.splitlines()))
    others = [(r["movie_title"], r["genres"]) for r in rows if genre.lower() not in r["genres"].lower()]
    bonus = Bonus(*random.Random(seed).choice(others))
    movies = [r["movie_title"] for r in rows if genre.lower() in r["genres"].lower()]
    random.Random(seed).shuffle(movies)
    playlist: list[str] = []
    for pick, movie in enumerate(movies, start=1):  # the original's end step: print until enough
        playlist.append(movie)
        if pick >= recommendations:
            break
    return Playlist(genre, playlist, bonus)
