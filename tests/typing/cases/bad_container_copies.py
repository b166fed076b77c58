"""A copy of a container of outputs is a container of outputs too: list(by_name.values()), tuple(outs),
dict(by_name), outs.copy(), [*outs], {**by_name}, outs + [x] and dict(a=output) all build a new container
in the workflow body, which the definition-time checker sees holding the placeholders. A dict's keys are
not its outputs (list(by_name) is a list of str)."""

from typedflow import task, workflow


@task
def train(lr: float) -> float:
    return lr


@task
def best(scores: list[float]) -> float:
    return max(scores)


@task
def best_of_tuple(scores: tuple[float, ...]) -> float:
    return max(scores)


@task
def best_of(scores: dict[str, float]) -> float:
    return max(scores.values())


@task
def count(names: list[str]) -> int:
    return len(names)


@workflow
def copies(lr: float, lr2: float) -> list[float]:
    by_name = {"small": train(lr), "large": train(lr2)}
    outs = [train(lr), train(lr2)]
    best(list(by_name.values()))  # E: typedflow-container
    values = list(by_name.values())
    best(values)  # E: typedflow-container
    best_of_tuple(tuple(outs))  # E: typedflow-container
    best_of(dict(by_name))  # E: typedflow-container
    best_of(by_name.copy())  # E: typedflow-container
    best([*outs])  # E: typedflow-container
    best_of({**by_name})  # E: typedflow-container
    best(outs + [0.5])  # E: typedflow-container  # noqa: RUF005
    best_of(dict(small=train(lr)))  # E: typedflow-container
    count(list(by_name))
    return list(by_name.values())  # E: typedflow-container
