"""The Merkle log served as C2SP tlog-tiles: a client holding only the checkpoint and the tiles
(tests/tile_reader.py, written from the specification) computes the root, inclusion and
consistency proofs itself and finds them agree with the signed checkpoints.

The 10,000-leaf log is real: copies of a participant's record sealed with their own recorded_at,
written into the log and appended to the ledger's own Merkle tree, and checkpoints signed by the
ledger key, as in tests/test_export_memory.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.entry import Record, format_time, parse_time
from ledger.note import NoteVerifier, open_checkpoint
from ledger.store import RECORDS_TABLE
from ledger.tiles import encode_index, parse_tile

from . import tile_reader
from .conftest import Trial, make_trial
from .test_trial_domain import set_up
from .tile_reader import TileReader, TileReadError

FIRST, SECOND = 6_001, 10_007  # checkpointed sizes: neither a multiple of 256


def _append_copies(trial: Trial, count: int) -> None:
    """Copies of the last record (each with its own recorded_at, so its own hash) written into
    the log and appended to the ledger's Merkle tree, no checkpoint signed."""
    store, tree = trial.services.store, trial.services.ledger.tree
    last = list(store.iter_log())[-1]
    record = Record.from_stored(last.state, last.position)
    moment, size = parse_time(record.recorded_at), tree.size()
    copies = [Record.seal(record.entry, record.signature,
                          format_time(moment + timedelta(microseconds=size + i + 1)),
                          record.payload_text or "", record.salt or b"")
              for i in range(count)]
    with store.transaction() as cur:
        cur.executemany(f"INSERT INTO {RECORDS_TABLE} (originator_id, originator_version, topic, state) "
                        "VALUES (?, 1, ?, ?)",
                        [(f"copy/{size + i}", last.topic, c.stored_bytes()) for i, c in enumerate(copies)])
        cur.execute(f"SELECT rowid AS p FROM {RECORDS_TABLE} ORDER BY rowid DESC LIMIT ?", (len(copies),))
        positions = sorted(int(r["p"]) for r in cur.fetchall())
        grown = tree.append(cur, [(p, c.hash, c.sealed) for p, c in zip(positions, copies, strict=True)])
    tree.committed(grown)


def _fill(trial: Trial, upto: int) -> int:
    """Copies appended until the tree has `upto` leaves, then a checkpoint signed over them."""
    _append_copies(trial, upto - trial.services.ledger.tree.size())
    signed = trial.services.ledger.seal()
    assert signed is not None and signed.size == upto
    return upto


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trial]:
    home: Path = tmp_path_factory.mktemp("tiles")
    trial = make_trial(f"sqlite:///{home / 'ledger.db'}", home / "home")
    set_up(trial).register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    _fill(trial, FIRST)
    _fill(trial, SECOND)
    yield trial
    trial.services.close()


@pytest.fixture
def stranger(log: Trial) -> TestClient:
    """Anyone on the network: no token at all."""
    return TestClient(create_app(log.services))


def _fetch(http: TestClient) -> tile_reader.Fetch:
    def get(path: str) -> bytes:
        answer = http.get(f"/{path}")
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"] == "application/octet-stream"
        return bytes(answer.content)
    return get


def test_tiles_give_the_checkpoint_root_and_proofs_a_client_verifies_itself(
        log: Trial, stranger: TestClient) -> None:
    note = stranger.get("/checkpoint")  # the spec's path: the server's root is the log's prefix
    assert note.headers["content-type"] == "text/plain; charset=utf-8"
    assert note.text == stranger.get("/v1/checkpoint").text
    _, size, root = tile_reader.parse_checkpoint(note.text)
    # The checkpoint is the ledger's, signed by the key /v1/health names (the reader has no Ed25519).
    key = NoteVerifier.from_key_string(stranger.get("/v1/health").json()["checkpoint_key"])
    assert open_checkpoint(note.text.encode("utf-8"), [key])[0].root == root
    assert size == SECOND
    reader = TileReader(_fetch(stranger), size)
    assert reader.root() == root
    for index in (0, 5, 255, 256, 4_097, FIRST - 1, SECOND - 1):
        proof = reader.inclusion_proof(index)
        tile_reader.verify_inclusion(index, size, reader.leaf(index), proof, root)
        # The same proof the server gives: two independent computations agree.
        served = stranger.get("/v1/proofs/inclusion", params={"leaf_index": index}).json()["proof"]
        assert [h.hex() for h in proof] == [base64.b64decode(h).hex() for h in served]
    with pytest.raises(TileReadError):  # a proof for another leaf does not verify
        tile_reader.verify_inclusion(5, size, reader.leaf(6), reader.inclusion_proof(5), root)

    # Consistency from the earlier checkpoint: its root, rebuilt from the tiles as they stood.
    old = TileReader(_fetch(stranger), FIRST)
    old_root = log.services.ledger.tree.checkpoint(FIRST).root
    assert old.root() == old_root
    proof = reader.consistency_proof(FIRST)
    tile_reader.verify_consistency(FIRST, SECOND, old_root, root, proof)
    forged = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    with pytest.raises(TileReadError):
        tile_reader.verify_consistency(FIRST, SECOND, old_root, root, forged)


def test_partial_tiles_are_prefixes_of_full_ones_and_upper_levels_hash_the_lower(
        stranger: TestClient) -> None:
    get = _fetch(stranger)
    full = get("tile/0/000")
    assert len(full) == 256 * 32
    assert get("tile/0/000.p/5") == full[: 5 * 32]
    # The right edge of the tree of SECOND leaves: 39 full level-0 tiles, a partial one of 23,
    # and a partial level-1 tile of 39 hashes, each the MTH of a full level-0 tile.
    assert len(get(f"tile/0/039.p/{SECOND % 256}")) == (SECOND % 256) * 32
    upper = get(f"tile/1/000.p/{SECOND // 256}")
    reader = TileReader(get, SECOND)
    assert [upper[i:i + 32] for i in range(0, len(upper), 32)] == \
        [reader.mth(t * 256, (t + 1) * 256) for t in range(SECOND // 256)]


@pytest.mark.parametrize("path", [f"tile/0/039.p/{SECOND % 256 + 1}", "tile/0/039", "tile/0/040.p/1",
                                  "tile/1/000", f"tile/1/000.p/{SECOND // 256 + 1}", "tile/2/000.p/1",
                                  f"tile/entries/039.p/{SECOND % 256 + 1}", "tile/entries/x001/000",
                                  "tile/0/x999/x999/x999/x999/x999/x999/999"])
def test_a_tile_beyond_the_checkpointed_size_is_404(stranger: TestClient, path: str) -> None:
    answer = stranger.get(f"/{path}")
    assert answer.status_code == 404 and answer.json()["rule"] == "tile.beyond_checkpoint", path


@pytest.mark.parametrize("path", ["tile/00/000", "tile/64/000", "tile/0/0", "tile/0/x000/001",
                                  "tile/0/1000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/05",
                                  "tile/abc/000", "tile/0/x01/000", "tile/0/\u0661\u0662\u0663"])
def test_a_path_not_in_the_c2sp_encoding_is_refused_naming_the_part(stranger: TestClient,
                                                                    path: str) -> None:
    answer = stranger.get(f"/{path}")
    assert answer.status_code == 422 and answer.json()["rule"] == "tile.path", path
    assert answer.json()["field"] in {"level", "index", "width"}


def test_full_tiles_are_immutable_with_a_strong_etag_and_partial_ones_short_lived(
        stranger: TestClient) -> None:
    full = stranger.get("/tile/0/001")
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    tag = full.headers["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    again = stranger.get("/tile/0/001", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert stranger.get("/checkpoint").headers["cache-control"] == "public, max-age=5"
    partial = stranger.get(f"/tile/0/039.p/{SECOND % 256}")
    assert partial.headers["cache-control"] == "public, max-age=60"
    bundle = stranger.get("/tile/entries/000")
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert bundle.headers["content-type"] == "application/octet-stream"


def test_a_stranger_reads_entry_bundles_without_a_token_but_only_hashes_of_participant_records(
        log: Trial, stranger: TestClient) -> None:
    get = _fetch(stranger)
    reader = TileReader(get, SECOND)
    seen: dict[str, int] = {}
    for n, width in ((0, 256), (SECOND // 256, SECOND % 256)):
        entries = tile_reader.split_bundle(get(tile_reader.tile_path("entries", n, width)))
        assert len(entries) == width
        hashes = reader.tile(0, n)
        for i, entry in enumerate(entries):
            # Every entry stands for its leaf: hashed outright, or given in its hash form.
            assert tile_reader.entry_leaf_hash(entry) == hashes[i]
            if entry[:1] == b"{":
                stream = json.loads(json.loads(entry)["entry"])["stream"]
                seen[stream] = seen.get(stream, 0) + 1
            else:
                assert len(entry) == 33 and entry[:1] == tile_reader.HASH_FORM
                seen["(hash)"] = seen.get("(hash)", 0) + 1
        assert b"P-001" not in b"".join(entries) and b"participant/" not in b"".join(entries)
    assert set(seen) == {"protocol", "(hash)"}  # only the public protocol in full
    assert seen["(hash)"] >= SECOND % 256  # the copies of the participant's record
    # The reader reads only what the route serves: nothing of the ledger's own code.
    source = Path(tile_reader.__file__).read_text(encoding="utf-8")
    assert "from ledger" not in source and "import ledger" not in source and "from api" not in source


def test_leaves_no_checkpoint_covers_yet_are_not_served(sqlite_trial: Trial) -> None:
    """Tiles follow the signed checkpoint, not the tree: leaves appended but not yet sealed
    stay out of every tile until a checkpoint covers them, so a tile never changes."""
    set_up(sqlite_trial)
    ledger, http = sqlite_trial.services.ledger, sqlite_trial.new_http()
    signed = ledger.tree.latest_checkpoint()
    assert signed is not None and signed.size == ledger.tree.size() < 256
    before = http.get(f"/tile/0/000.p/{signed.size}")
    assert before.status_code == 200
    _append_copies(sqlite_trial, 1)
    beyond = http.get(f"/tile/0/000.p/{signed.size + 1}")
    assert beyond.status_code == 404 and beyond.json()["rule"] == "tile.beyond_checkpoint"
    assert http.get(f"/tile/entries/000.p/{signed.size + 1}").status_code == 404
    resealed = ledger.seal()
    assert resealed is not None and resealed.size == signed.size + 1
    after = http.get(f"/tile/0/000.p/{resealed.size}")
    assert after.status_code == 200 and after.content[:-32] == before.content
    assert TileReader(_fetch(http), resealed.size).root() == resealed.root


def test_tile_paths_and_widths_follow_the_specification_examples() -> None:
    assert tile_reader.index_path(1234067) == encode_index(1234067) == "x001/x234/067"
    for n in (0, 7, 999, 1000, 1234067, 2**40):
        assert parse_tile("0", tile_reader.index_path(n)).index == n
    # "A tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1."
    asked: list[str] = []

    def zeros(path: str) -> bytes:
        asked.append(path)
        return bytes(32 * (int(path.split(".p/")[1]) if ".p/" in path else 256))
    reader = TileReader(zeros, 70_000)
    for level, n in ((0, 272), (0, 273), (1, 0), (1, 1), (2, 0)):
        reader.tile(level, n)
    assert asked == ["tile/0/272", "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]
    with pytest.raises(TileReadError):
        reader.tile(0, 274)  # empty tiles are never asked for


def test_entry_bundles_are_gzipped_for_a_client_that_takes_gzip(stranger: TestClient) -> None:
    plain = stranger.get("/tile/entries/000", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = stranger.get("/tile/entries/000", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content  # as decoded by the client
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.headers["etag"] != plain.headers["etag"]  # a strong tag names one encoding


def test_tiles_and_bundles_read_alike_from_either_store(trial: Trial) -> None:
    set_up(trial)
    http = trial.new_http()
    _, size, root = tile_reader.parse_checkpoint(http.get("/checkpoint").text)
    assert 0 < size < 256
    reader = TileReader(_fetch(http), size)
    assert reader.root() == root
    entries = tile_reader.split_bundle(_fetch(http)(tile_reader.tile_path("entries", 0, size)))
    assert [tile_reader.entry_leaf_hash(e) for e in entries] == reader.tile(0, 0)
