"""Write-once anchoring in Google Cloud Storage, through google-cloud-storage's real client against a local
fake-gcs-server: records and their signed checkpoints go to the run's bucket create-only
(``if_generation_match=0``), each checkpoint also to an anchor bucket, and ``typedflow lineage pull`` accepts
them with the public key and the anchor, and notices a record replaced, deleted or forged in the run's bucket.

The stand-in keeps no retention policy and no object hold (see the last test, and docs/lineage.md): what a
locked retention policy adds, that nobody can delete or replace an anchored checkpoint, is not shown here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator

import attrs
import pytest

from tests.support.gcs import FakeGcs
from typedflow.lineage.cloud import iter_gcs, put_gcs
from typedflow.lineage.signing import load_key_file

RUN = "projects/1/locations/europe-west1/pipelineJobs/train-20261207"
PREFIX = "pipeline-root/typedflow"
_buckets = itertools.count()


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGcs]:
    server = FakeGcs()
    try:
        yield server
    finally:
        server.close()


@attrs.frozen
class Published:
    client: object
    runs: str  # the run's bucket
    anchor: str  # the anchor bucket
    uris: tuple[str, ...]  # record objects
    digests: tuple[str, ...]
    records: tuple[object, ...]


@pytest.fixture
def published(gcs, make_record, keypair) -> Published:
    """Four records of one Vertex-style run, signed with the Ed25519 key and anchored."""
    client = gcs.client()
    n = next(_buckets)
    runs, anchor = f"runs-{n}", f"worm-{n}"
    client.create_bucket(runs)
    client.create_bucket(anchor)
    signer = load_key_file(keypair.key)
    uris, digests, records = [], [], []
    for i in range(4):
        rec = attrs.evolve(make_record(i), run_id=RUN, target="vertex", executor="vertex-container")
        put = put_gcs(rec, runs, PREFIX, client=client, signer=signer, anchor=f"gs://{anchor}/audit")
        assert put.created and put.checkpoint and put.anchored
        assert put.anchored.startswith(f"gs://{anchor}/audit/lineage/")
        uris.append(put.uri)
        digests.append(put.record_hash)
        records.append(rec)
    return Published(client, runs, anchor, tuple(uris), tuple(digests), tuple(records))


def _pull(published: Published, keypair, monkeypatch, gcs, capsys, *extra: str) -> tuple[int, str, str]:
    from typedflow.cli import main

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)  # what google-cloud-storage's Client() honours
    argv = ["lineage", "pull", RUN, "--target", "vertex", "--from", f"gs://{published.runs}/{PREFIX}"]
    argv += ["--public-key", str(keypair.pub), *extra]
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_published_records_pull_and_verify_with_the_key_and_the_anchor(
    published, keypair, gcs, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    names = sorted(b.name for b in published.client.list_blobs(published.anchor))
    assert names == sorted(
        f"audit/lineage/{RUN.replace('/', '%2F')}/checkpoints/{d}.json" for d in published.digests
    ), names
    code, out, err = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 0, (out, err)
    assert (
        f"4 appended, 0 already present, 0 rejected, 0 anchor problem(s); 4 verified with key {keypair.key_id[:16]}"
        in out
    )
    assert out.splitlines()[-1].startswith("OK: 4 records")
    # a second pull finds them all present
    code, out, _ = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 0 and "0 appended, 4 already present" in out


def test_publication_is_create_only(published, keypair) -> None:
    """A second write of the same key is refused by the store (HTTP 412), not replaced."""
    bucket = published.client.bucket(published.runs)
    name = published.uris[0].removeprefix(f"gs://{published.runs}/")
    blob = bucket.get_blob(name)
    generation, body = blob.generation, blob.download_as_bytes()
    again = put_gcs(
        published.records[0], published.runs, PREFIX, client=published.client, signer=load_key_file(keypair.key)
    )
    assert again.uri == published.uris[0] and not again.created
    blob = bucket.get_blob(name)
    assert (blob.generation, blob.download_as_bytes()) == (generation, body)
    assert hashlib.sha256(body).hexdigest() == published.digests[0]


def test_a_replaced_record_is_rejected_and_its_anchored_checkpoint_reported(
    published, keypair, gcs, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    name = published.uris[1].removeprefix(f"gs://{published.runs}/")
    blob = published.client.bucket(published.runs).blob(name)
    body = blob.download_as_bytes()
    blob.upload_from_string(body.replace(b'"succeeded"', b'"failed"'))  # an unconditional overwrite
    code, out, err = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 1
    assert f"rejected {published.uris[1]}: content hash does not match the key" in err
    assert f"{published.digests[1]}.json: the anchored record is missing from the run's objects" in err
    assert "3 appended, 0 already present, 1 rejected, 1 anchor problem(s)" in out


def test_a_deleted_record_is_noticed_through_the_anchor(published, keypair, gcs, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    name = published.uris[2].removeprefix(f"gs://{published.runs}/")
    bucket = published.client.bucket(published.runs)
    bucket.blob(name).delete()
    checkpoint = name.rsplit("/", 1)[0] + "/checkpoints/" + name.rsplit("/", 1)[1]
    bucket.blob(checkpoint).delete()
    # without the anchor the run's bucket looks complete
    code, out, _ = _pull(published, keypair, monkeypatch, gcs, capsys)
    assert code == 0 and "3 appended" in out
    code, out, err = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 1 and "1 anchor problem(s)" in out
    assert f"{published.digests[2]}.json: the anchored record is missing from the run's objects" in err


def test_a_forged_record_with_its_own_checkpoint_is_rejected(
    published, make_record, keypair, other_keypair, gcs, monkeypatch, capsys, tmp_path
) -> None:
    """Someone who can write the run's bucket but holds neither the key nor the anchor."""
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    rec = attrs.evolve(make_record(9), run_id=RUN, target="vertex", executor="vertex-container", status="failed")
    forged = put_gcs(rec, published.runs, PREFIX, client=published.client, signer=load_key_file(other_keypair.key))
    code, out, err = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 1 and "4 appended, 0 already present, 1 rejected" in out
    assert f"rejected {forged.uri}: no checkpoint signed with the trusted key in the anchor" in err


def test_a_deleted_anchored_checkpoint_rejects_its_record(published, keypair, gcs, monkeypatch, capsys, tmp_path):
    """A locked retention policy forbids this delete; the stand-in allows it, and pull then refuses the record
    that lost its anchored checkpoint."""
    monkeypatch.setenv("TYPEDFLOW_HOME", str(tmp_path / "home"))
    anchor = published.client.bucket(published.anchor)
    [victim] = [b for b in anchor.list_blobs() if b.name.endswith(f"{published.digests[3]}.json")]
    victim.delete()
    code, out, err = _pull(published, keypair, monkeypatch, gcs, capsys, "--anchor", f"gs://{published.anchor}/audit")
    assert code == 1 and "3 appended, 0 already present, 1 rejected" in out
    assert f"rejected {published.uris[3]}: no checkpoint signed with the trusted key in the anchor" in err


def test_iter_gcs_lists_one_run_and_its_checkpoints(published) -> None:
    records = list(iter_gcs(published.runs, PREFIX, run_id=RUN, client=published.client))
    assert sorted(o.uri for o in records) == sorted(published.uris)
    both = list(iter_gcs(published.runs, PREFIX, run_id=RUN, client=published.client, checkpoints=True))
    assert len(both) == 8


def test_what_the_stand_in_cannot_show(gcs) -> None:
    """fake-gcs-server (the version the dev extra pins) neither keeps a retention policy nor an object hold,
    has no lockRetentionPolicy call, and lets anyone delete or overwrite what it holds: docs/lineage.md says
    so. If a newer stand-in keeps them, this fails, and the docs and the tests above should use them."""
    from google.api_core.exceptions import NotFound

    client = gcs.client()
    bucket = client.bucket(f"retention-{next(_buckets)}")
    bucket.retention_period = 3600
    bucket = client.create_bucket(bucket)
    bucket.retention_period = 3600
    bucket.patch()
    bucket.reload()
    assert bucket.retention_period is None  # the policy is dropped
    with pytest.raises(NotFound):
        client._connection.api_request(
            method="POST", path=f"/b/{bucket.name}/lockRetentionPolicy", query_params={"ifMetagenerationMatch": 1}
        )
    blob = bucket.blob("held.json")
    blob.upload_from_string(b"{}", if_generation_match=0)
    blob.temporary_hold = True
    blob.patch()
    blob.reload()
    assert not blob.temporary_hold  # the hold is dropped
    blob.upload_from_string(b"[]")  # an overwrite a retention policy would refuse
    blob.delete()  # and a delete
    assert not blob.exists()
