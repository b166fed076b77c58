"""Tasks kept in a class as static methods: their outputs are task outputs, through the class or an instance."""

from typedflow import task, workflow


class Text:
    @staticmethod
    @task
    def tokenize(text: str) -> list[str]:
        return text.split()

    @staticmethod
    @task
    def count(tokens: list[str]) -> int:
        return len(tokens)


TEXT = Text()


@workflow
def words(text: str) -> int:
    tokens = Text.tokenize(text)
    for t in tokens:  # E: typedflow-iteration
        Text.count([t])
    n = TEXT.count(TEXT.tokenize(text))
    return n + 1  # E: typedflow-arithmetic
