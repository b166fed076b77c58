"""Prepare chat-format fine-tuning data, train a small stand-in model, gate it, push it to a hub.

Shows: JSONL artifacts with a user format (``ChatJSONL`` is a ``JSONL``, so it goes wherever JSONL
is accepted), cleaning and deduplication with counts as typed outputs, a quality gate, and a
"push" to a local hub directory. The records are generated from a fixed in-module list (support
tickets labelled with an intent) and the "model" is a TF-IDF + logistic regression classifier
standing in for a fine-tuned LLM, so it runs in a second with no network or GPU. Run::

    typedflow run examples/finetune_data.py:finetune_data
    typedflow run examples/finetune_data.py:finetune_data --input min_accuracy=0.99 --input hub=/tmp/hub
"""

from __future__ import annotations

import json
import random
import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any, NamedTuple

from typedflow import Format, TypedDirectory, TypedFile, task, when, workflow
from typedflow.formats import JSONL


class ChatJSONL(JSONL):
    """One ``{"messages": [{"role": ..., "content": ...}, ...]}`` conversation per line."""

    name = "chat-jsonl"


class AdapterDir(Format):
    """A trained model directory: ``weights.json`` and ``config.json``."""

    name = "adapter-dir"
    schema_title = "system.Model"


class Cleaned(NamedTuple):
    records: TypedFile[JSONL]
    kept: int
    dropped_empty: int
    dropped_duplicates: int


class ChatSplit(NamedTuple):
    train: TypedFile[ChatJSONL]
    eval: TypedFile[ChatJSONL]


class EvalReport(NamedTuple):
    accuracy: float
    macro_f1: float
    n_eval: int


class FinetuneReport(NamedTuple):
    kept: int
    dropped_duplicates: int
    eval: EvalReport
    model: TypedDirectory[AdapterDir]  # pushed as support-router@<sha256[:12]> when it passed the gate


SYSTEM_PROMPT = "You route customer messages. Answer with one intent: billing, shipping, account or bug."

# Templates x fillers give a few hundred realistic-looking records; noise is added in `ingest_records`.
_TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {thing} this month",
        "Why is my invoice for the {thing} higher than last time?",
        "Can I get a refund for the {thing}?",
        "My card was declined when paying for the {thing}",
        "Please send me a receipt for the {thing}",
    ],
    "shipping": [
        "My {thing} has not arrived yet, where is it?",
        "The tracking number for my {thing} does not work",
        "Can you ship the {thing} to a different address?",
        "The {thing} arrived damaged in the box",
        "How long does delivery of the {thing} take?",
    ],
    "account": [
        "I cannot log in to my account to see the {thing}",
        "How do I change the email on my account for the {thing}?",
        "Please delete my account and the {thing} data",
        "I forgot my password and need the {thing}",
        "Can I add a second user to manage the {thing}?",
    ],
    "bug": [
        "The app crashes when I open the {thing} page",
        "The {thing} screen shows an error 500",
        "Buttons on the {thing} form do nothing when clicked",
        "The {thing} export produces an empty file",
        "Search results for the {thing} never load",
    ],
}
_THINGS = ["subscription", "order", "laptop", "headphones", "premium plan", "gift card", "monitor", "team plan"]


def _read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"<[^>]+>", " ", text)  # stray HTML from the ticketing system
    return re.sub(r"\s+", " ", text).strip()


@task
def ingest_records(copies: int = 1, seed: int = 0) -> TypedFile[JSONL]:
    """Raw ticket records ``{"id", "text", "intent"}``, with the noise real exports have."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for intent, templates in _TEMPLATES.items():
        for tpl in templates:
            for thing in _THINGS:
                for _ in range(copies):
                    text, label = tpl.format(thing=thing), intent
                    roll = rng.random()
                    if roll < 0.10:  # re-submitted ticket, shouted and padded: a duplicate after cleaning
                        rows.append({"id": f"t{len(rows):05d}", "text": f"  {text.upper()}\t", "intent": label})
                    elif roll < 0.14:
                        text = f"<p>{text}</p>"
                    elif roll < 0.17:
                        text = " \n "  # empty after cleaning
                    elif roll < 0.20:  # mislabelled by an agent: caps what any model can score
                        label = rng.choice(sorted(set(_TEMPLATES) - {intent}))
                    rows.append({"id": f"t{len(rows):05d}", "text": text, "intent": label})
    rng.shuffle(rows)
    out: TypedFile[JSONL] = TypedFile.new(suffix=".jsonl")
    _write_jsonl(out.local_path(), rows)
    return out


@task
def clean(raw: TypedFile[JSONL]) -> Cleaned:
    """Normalize whitespace/Unicode, strip HTML, drop empty texts and case-insensitive duplicates."""
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    empty = dupes = 0
    for r in _read_jsonl(raw.local_path()):
        text = _normalize(str(r.get("text", "")))
        if not text:
            empty += 1
            continue
        key = text.casefold()
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        kept.append({**r, "text": text})
    out: TypedFile[JSONL] = TypedFile.new(suffix=".jsonl")
    _write_jsonl(out.local_path(), kept)
    return Cleaned(records=out, kept=len(kept), dropped_empty=empty, dropped_duplicates=dupes)


@task
def to_chat(records: TypedFile[JSONL], system_prompt: str = SYSTEM_PROMPT) -> TypedFile[ChatJSONL]:
    """One system/user/assistant conversation per record."""
    rows = [
        {
            "messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": r["text"]},
                {"role": "assistant", "content": r["intent"]},
            ]
        }
        for r in _read_jsonl(records.local_path())
    ]
    out: TypedFile[ChatJSONL] = TypedFile.new(suffix=".jsonl")
    _write_jsonl(out.local_path(), rows)
    return out


@task
def split_chat(chats: TypedFile[ChatJSONL], eval_fraction: float = 0.2, seed: int = 0) -> ChatSplit:
    """A stratified train/eval split of conversations."""
    from sklearn.model_selection import train_test_split

    rows = _read_jsonl(chats.local_path())
    labels = [r["messages"][-1]["content"] for r in rows]
    tr, ev = train_test_split(rows, test_size=eval_fraction, random_state=seed, stratify=labels)
    train_f: TypedFile[ChatJSONL] = TypedFile.new(suffix=".jsonl")
    eval_f: TypedFile[ChatJSONL] = TypedFile.new(suffix=".jsonl")
    _write_jsonl(train_f.local_path(), tr)
    _write_jsonl(eval_f.local_path(), ev)
    return ChatSplit(train=train_f, eval=eval_f)


def _pairs(chats: TypedFile[ChatJSONL]) -> tuple[list[str], list[str]]:
    rows = _read_jsonl(chats.local_path())
    users = [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in rows]
    answers = [r["messages"][-1]["content"] for r in rows]
    return users, answers


def _save(model: Any, path: Path) -> None:
    """Vocabulary, idf weights and classifier as JSON: no pickle, readable anywhere."""
    vec, clf = model.named_steps["tfidfvectorizer"], model.named_steps["logisticregression"]
    weights = {
        "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
        "idf": vec.idf_.tolist(),
        "coef": clf.coef_.tolist(),
        "intercept": clf.intercept_.tolist(),
        "classes": clf.classes_.tolist(),
    }
    path.write_text(json.dumps(weights, sort_keys=True) + "\n", encoding="utf-8")


def _load(path: Path) -> Any:
    """Rebuild the fitted pipeline from its JSON weights."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    w = json.loads(path.read_text(encoding="utf-8"))
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    vec.vocabulary_ = w["vocabulary"]
    vec.idf_ = np.array(w["idf"])
    clf = LogisticRegression()
    clf.coef_, clf.intercept_, clf.classes_ = np.array(w["coef"]), np.array(w["intercept"]), np.array(w["classes"])
    clf.n_features_in_ = len(w["idf"])
    return make_pipeline(vec, clf)


@task
def finetune(train: TypedFile[ChatJSONL], C: float = 10.0) -> TypedDirectory[AdapterDir]:
    """Fit the stand-in model: user message → assistant answer (TF-IDF + logistic regression)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    users, answers = _pairs(train)
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(C=C, max_iter=2000)
    )
    model.fit(users, answers)
    out: TypedDirectory[AdapterDir] = TypedDirectory.new()
    _save(model, out / "weights.json")
    config = {"base": "tfidf-logreg (stand-in)", "C": C, "train_sha256": train.sha256, "n_train": len(users)}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


@task
def evaluate_chat(model: TypedDirectory[AdapterDir], eval: TypedFile[ChatJSONL]) -> EvalReport:
    """Exact-match accuracy and macro F1 of the model's answers on held-out conversations."""
    from sklearn.metrics import accuracy_score, f1_score

    users, answers = _pairs(eval)
    pred = _load(model / "weights.json").predict(users)
    return EvalReport(
        accuracy=float(accuracy_score(answers, pred)),
        macro_f1=float(f1_score(answers, pred, average="macro")),
        n_eval=len(users),
    )


# Pushing writes outside the artifact store, so it must run every time the gate passes.
@task(cache=False)
def push(
    model: TypedDirectory[AdapterDir], report: EvalReport, hub: str = ".typedflow/hub", repo: str = "support-router"
) -> str:
    """Copy the model and its eval card to ``hub/repo/<revision>``; return ``repo@revision``."""
    if model.sha256 is None:
        raise ValueError("push needs a stored model (one produced by a task)")
    revision = model.sha256[:12]
    dest = Path(hub).absolute() / repo / revision
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model.local_path(), tmp)
    card = {"repo": repo, "revision": revision, "model_sha256": model.sha256, "eval": report._asdict()}
    (tmp / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)  # same revision = same bytes
    tmp.rename(dest)
    return f"{repo}@{revision}"


@workflow
def finetune_data(
    copies: int = 1,
    eval_fraction: float = 0.2,
    min_accuracy: float = 0.85,
    hub: str = ".typedflow/hub",
    seed: int = 0,
) -> FinetuneReport:
    """ingest → clean/dedupe → chat JSONL → split → finetune → eval → (gate) → push."""
    raw = ingest_records(copies=copies, seed=seed)
    cleaned = clean(raw)
    chats = to_chat(cleaned.records)
    parts = split_chat(chats, eval_fraction=eval_fraction, seed=seed)
    model = finetune(parts.train)
    report = evaluate_chat(model, parts.eval)
    with when(report.accuracy >= min_accuracy):
        push(model, report, hub=hub)
    return FinetuneReport(kept=cleaned.kept, dropped_duplicates=cleaned.dropped_duplicates, eval=report, model=model)
