import json
import multiprocessing

from smbench.cache import Cache, key_of


def test_key_depends_on_every_part():
    assert key_of("a", 1) == key_of("a", 1)
    assert key_of("a", 1) != key_of("a", 2)
    assert key_of(b"x") != key_of("x")
    assert key_of({"b": 1, "a": 2}) == key_of({"a": 2, "b": 1})


def test_round_trip_with_bytes(tmp_path):
    cache = Cache(tmp_path)
    cache.put("ns", "k" * 64, {"blob": b"\x00\x01", "list": [b"x", 1]})
    assert cache.get("ns", "k" * 64) == {"blob": b"\x00\x01", "list": [b"x", 1]}
    assert cache.get("ns", "z" * 64) is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_disabled_cache_never_stores(tmp_path):
    cache = Cache(tmp_path, enabled=False)
    cache.put("ns", "a" * 64, 1)
    assert cache.get("ns", "a" * 64) is None
    assert not list(tmp_path.rglob("*.json"))


def test_entry_under_another_key_is_rejected(tmp_path):
    cache = Cache(tmp_path)
    cache.put("ns", "a" * 64, 1)
    source = next(tmp_path.rglob("*.json"))
    impostor = tmp_path / "v1" / "ns" / "bb" / ("b" * 64 + ".json")
    impostor.parent.mkdir(parents=True)
    impostor.write_text(source.read_text())
    assert cache.get("ns", "b" * 64) is None and cache.corrupt == 1
    assert not impostor.exists()


def _writer(root, value):
    cache = Cache(root)
    for _ in range(50):
        cache.put("ns", "c" * 64, {"value": value, "pad": "x" * 20000})


def test_concurrent_writers_leave_a_whole_entry(tmp_path):
    processes = [multiprocessing.Process(target=_writer, args=(tmp_path, n)) for n in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    value = Cache(tmp_path).get("ns", "c" * 64)
    assert value["value"] in range(4) and len(value["pad"]) == 20000
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    json.loads(next(tmp_path.rglob("*.json")).read_text())


def test_unwritable_cache_directory_costs_nothing_but_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = Cache(blocker)
    cache.put("ns", "d" * 64, 1)
    assert cache.get("ns", "d" * 64) is None
