"""Searches and checks run one after another in one process (the workflow's warm workers): the tables each opens are
read once per process while their files stay unchanged, and the hot paths of a search (op checks, keys, costs,
fitness, the record's text, the command's parser) are cheaper, with the same results and the same errors."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from fakes import FakeEvaluator
from hwevrsnas.errors import DamagedFile, InputError, MissingFile
from hwevrsnas.filememo import read_once
from hwevrsnas.proxy.cache import cache_key, class_keys
from hwevrsnas.scores import ProxyColumns, ScoreTable
from hwevrsnas.search.costs import CostModel
from hwevrsnas.search.penalty import FORMS, feasible, feasible_of, fitness, fitness_of
from hwevrsnas.search.record import dumps, jsonable
from hwevrsnas.search.tracker import SearchTracker, fittest
from hwevrsnas.spaces import nb201 as nb201_space
from hwevrsnas.tables.store import NB201Table


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to a new file renamed over `path`, as the builders do (a new inode)."""
    new = path.with_name(path.name + ".new")
    new.write_bytes(data)
    os.replace(new, path)


def _damaged(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF  # after the sealed user block: the content checksum no longer matches
    return bytes(flipped)


def _shared_raises_as_open(table: type, path: Path, error_type: type) -> str:
    """`table.shared(path)` raises what `table.open(path)` raises, word for word, on every attempt (a failed read
    is never remembered); the message."""
    with pytest.raises(error_type) as expected:
        table.open(path)
    for attempt in range(2):
        with pytest.raises(error_type) as error:
            table.shared(path)
        assert str(error.value) == str(expected.value)
    return str(expected.value)


# ---- files read once per process ------------------------------------------------------------------------------


def test_read_once_rereads_a_changed_or_replaced_file_and_never_keeps_a_failed_read(tmp_path: Path) -> None:
    path = tmp_path / "table.txt"
    path.write_text("one")
    reads = []

    def read(p: Path) -> str:
        reads.append(p)
        if not p.is_file():
            raise MissingFile(f"{p} not found; build it")
        text = p.read_text()
        if text.startswith("damaged"):
            raise DamagedFile(p, "damaged", "rebuild it")
        return text

    assert read_once(path, read) == "one" and read_once(path, read) == "one" and len(reads) == 1
    _replace(path, b"two")
    assert read_once(path, read) == "two" and read_once(path, read) == "two" and len(reads) == 2
    path.write_text("three, in place")
    assert read_once(path, read) == "three, in place" and len(reads) == 3
    path.write_text("damaged!")
    for attempt in range(2):  # raised at every open: a failed read is not kept
        with pytest.raises(DamagedFile, match="damaged; rebuild it"):
            read_once(path, read)
    assert len(reads) == 5
    path.write_text("four")
    assert read_once(path, read) == "four"
    path.unlink()
    with pytest.raises(MissingFile, match="not found; build it"):
        read_once(path, read)
    # Another name of the same file is another entry: what the reader returns may carry the name it was given.
    other = tmp_path / "link.txt"
    path.write_text("five")
    other.symlink_to(path)
    assert read_once(other, read) == "five" and reads[-1] == other


def test_shared_nb201_tables_are_read_once_read_only_and_read_again_when_replaced(nb201_h5: Path, tmp_path: Path):
    path = tmp_path / "nb201.h5"
    shutil.copyfile(nb201_h5, path)
    table = NB201Table.shared(path)
    assert NB201Table.shared(path) is table
    assert CostModel.open("nb201", tmp_path, "cifar10", "fpga", "latency").table is table
    with pytest.raises(ValueError, match="read-only"):
        table.ops[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):  # a column read on first use is read-only too
        table.cost_column("fpga_latency", "cifar10")[0] = 0.0
    assert NB201Table.open(path) is not table and NB201Table.open(path).ops.flags.writeable  # open is unchanged

    _replace(path, nb201_h5.read_bytes())  # a rebuilt table: read and verified again
    again = NB201Table.shared(path)
    assert again is not table and NB201Table.shared(path) is again

    _replace(path, _damaged(nb201_h5.read_bytes()))
    expected = _shared_raises_as_open(NB201Table, path, DamagedFile)
    assert "content checksum mismatch" in expected
    with pytest.raises(DamagedFile) as error:
        CostModel.open("nb201", tmp_path, "cifar10", "fpga", "latency")
    assert str(error.value) == expected

    path.unlink()
    _shared_raises_as_open(NB201Table, path, MissingFile)


def _score_table(scores: list[float]) -> ScoreTable:
    space = nb201_space.SPACE
    representatives = space.classes()[: len(scores)]
    n = len(scores)
    columns = ProxyColumns(
        "rsnas", {"kind": "rsnas", "space": "nb201", "seed": 0}, "a test column", "rsnas:test",
        score=np.array(scores), raw=np.array(scores), loss=np.zeros(n), cka=np.full((n, 2), 0.5),
        status=np.array(["ok"] * n), seconds=np.ones(n),
    )  # fmt: skip
    return ScoreTable(space, np.arange(n), representatives, {"rsnas": columns}, shard="archs")


def test_shared_score_tables_are_read_once_read_only_and_read_again_when_replaced(tmp_path: Path) -> None:
    path = _score_table([0.25, 0.5, 0.75]).write(tmp_path / "scores.h5")
    table = ScoreTable.shared(path)
    assert ScoreTable.shared(path) is table and table.path == path
    for array in (table.positions, table.representatives, table.proxies["rsnas"].score, table.proxies["rsnas"].cka):
        assert not array.flags.writeable

    built = tmp_path / "rebuilt.h5"
    _score_table([0.1, 0.2, 0.3]).write(built)
    os.replace(built, path)
    again = ScoreTable.shared(path)
    assert again is not table and again.proxies["rsnas"].score.tolist() == [0.1, 0.2, 0.3]

    _replace(path, _damaged(path.read_bytes()))
    _shared_raises_as_open(ScoreTable, path, DamagedFile)
    path.unlink()
    with pytest.raises(MissingFile, match=r"score table .* not found; rebuild it with `hwevrsnas scores build`"):
        ScoreTable.shared(path)


# ---- op checks, keys and lookups ------------------------------------------------------------------------------


def test_nb201_op_checks_keep_their_errors_beside_the_byte_fast_path() -> None:
    cell = np.array([3, 1, 2, 4, 1, 0], dtype=np.uint8)
    checked = nb201_space.validate(cell)
    assert checked is not cell and checked.tolist() == cell.tolist()
    strided = np.zeros((6, 2), dtype=np.uint8)
    strided[:, 0] = cell
    for function in (nb201_space.ops_to_arch, nb201_space.canonical_key, nb201_space.cell_bytes):
        expected = function(cell)
        assert function(cell.tolist()) == function(cell.astype(np.int64)) == function(strided[:, 0]) == expected
        with pytest.raises(nb201_space.ArchError, match=r"op indices must lie in 0\.\.4, got 0\.\.9"):
            function(np.array([3, 1, 2, 4, 9, 0], dtype=np.uint8))
        with pytest.raises(nb201_space.ArchError, match=r"expected one architecture of shape \(6,\), got \(2, 6\)"):
            function(np.zeros((2, 6), dtype=np.uint8))
        with pytest.raises(nb201_space.ArchError, match=r"an NB201 architecture has 6 op indices, got shape \(5,\)"):
            function(np.zeros(5, dtype=np.uint8))
        with pytest.raises(nb201_space.ArchError, match="op indices must be integers, got dtype float64"):
            function(np.zeros(6))
    with pytest.raises(nb201_space.ArchError, match=r"op indices must lie in 0\.\.4, got 0\.\.5"):
        nb201_space.validate(np.array([[0, 1, 2, 3, 4, 0], [5, 0, 0, 0, 0, 0]], dtype=np.uint8))
    assert nb201_space.validate(np.zeros((0, 6), dtype=np.uint8)).shape == (0, 6)


def test_index_of_ops_is_the_vectorised_nb201_table_lookup_of_one_architecture(nb201) -> None:
    every = nb201_space.validate(nb201.ops)
    assert [nb201.index_of_ops(row) for row in every] == nb201.indices_of_ops(every).tolist()
    with pytest.raises(nb201_space.ArchError, match="expected one architecture"):
        nb201.index_of_ops(every[:2])


def test_class_keys_are_the_score_cache_keys() -> None:
    identity = {"kind": "rsnas", "space": "nb201", "preset": "abc", "seed": 3, "zz": [1.5, None], "nested": {"b": 1}}
    keys = class_keys(identity)
    for ops in nb201_space.SPACE.classes()[:50]:
        arch = nb201_space.canonical_key(ops)
        assert keys(arch) == keys(arch) == cache_key(**identity, arch=arch)
    other = {**identity, "seed": 4}
    assert class_keys(other)(arch) == cache_key(**other, arch=arch) != keys(arch)


# ---- fitness and feasibility of one candidate -----------------------------------------------------------------


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_fitness_and_feasibility_of_one_search_candidate_are_the_vectorised_ones() -> None:
    threshold = 10.0
    costs = [0.0, 1.0, 9.999, 10.0, 10.0 + 1e-12, 25.0, 1e308, -1.0, math.nan, math.inf, -math.inf]
    phis = [0.5, 0.0, 1.0, 0.1 + 0.2, 1e-16, math.nan, math.inf, -math.inf]
    for form in FORMS:
        for lam in (0.0, 0.5, 1.0, 3.0, 1e308):
            for phi in phis:
                for cost in costs:
                    one = fitness_of(phi, cost, threshold, lam, form)
                    with np.errstate(over="ignore"):
                        vectorised = float(fitness(phi, cost, threshold, lam, form))
                    assert type(one) is float and _bits(one) == _bits(vectorised), (form, lam, phi, cost)
    for cost in costs:
        assert feasible_of(cost, threshold) is bool(feasible(cost, threshold))
    for bad in ({"lam": -1.0}, {"lam": math.inf}, {"form": "squared"}, {"threshold": 0.0}, {"threshold": math.nan}):
        arguments = {"phi": 0.5, "cost": 5.0, "threshold": threshold, "lam": 1.0, "form": FORMS[0], **bad}
        with pytest.raises(InputError) as expected:
            fitness(**arguments)
        with pytest.raises(InputError) as error:
            fitness_of(**arguments)
        assert str(error.value) == str(expected.value)


def test_the_tracker_answer_after_each_request_is_the_fittest_of_everything_evaluated(nb201) -> None:
    model = CostModel.nb201(nb201, "cifar10", "fpga", "latency")
    tracker = SearchTracker("nb201", FakeEvaluator(nb201).evaluate, model, model.quantile(0.2))
    for ops in nb201_space.sample(np.random.default_rng(7), 300):
        tracker.request(ops)
        feasible_ones = [e for e in tracker.evaluations if e.feasible]
        expected = fittest(feasible_ones or tracker.evaluations)
        answer, answer_feasible = tracker.answer()
        assert answer is expected and answer_feasible == bool(feasible_ones)


# ---- the record's text ----------------------------------------------------------------------------------------


def _reference(value: object) -> str:
    return json.dumps(jsonable(value), sort_keys=True, indent=1, allow_nan=False) + "\n"


TRICKY = {
    "nested": {"b": [1, {"c": [], "d": {}}, {}], "a": {"z": None, "y": [[]], "x": [[1, 2], [3.5]]}},
    "empty": [[], {}, [{}], [[]], {"e": {}}],
    "numpy": {
        "int": np.int64(3), "float32": np.float32(0.1), "float64": np.float64(1e-16), "bool": np.bool_(True),
        "array": np.arange(3), "matrix": np.array([[0.5, np.nan], [np.inf, -0.0]]), "scalar_array": np.array(2.5),
        "nan_scalar": np.float64("nan"), "uint8": np.array([1, 2], dtype=np.uint8), "str": np.str_("s"),
    },
    "floats": [0.1 + 0.2, 1e-16, 1e300, -0.0, 5e-324, 1.0, 2.0**60, math.nan, math.inf, -math.inf, 123456789.123],
    "ints": [0, -1, 2**70, True, False, None],
    "text": ["é", "日本", "\u2028", 'a"b\\c\n\t', "\x00", "", "}\n  {", ",\n   \"x\": 1"],
    "records": [{"phi": 0.5, "cost": math.nan, "arch": "|a|"}, {"phi": 1.0, "cost": 2.0, "arch": "é\n"}],
    "plain_records": [{"b": "}\n  {", "a": 1}, {"a": 2, "b": "{"}, {"a": 3, "b": None}],
    "records_and_empty": [{"a": 1}, {}],
    "records_and_lists": [{"a": [1]}, {"b": 2}],
    "numpy_records": [{"a": np.float64(0.25)}, {"a": np.int32(4)}],
    "mixed": [1, [2, 3], {"k": "v"}, (4, 5), "s", None],
    "tuple": (1.5, "x", (2, [3])),
    "int_keys": {1: "a", 2: "b", 10: "c"},
    "odd_keys": {None: "n", 2.5: "f", False: "b"},
    "colliding_keys": {1: "int", "1": "str"},
}


def test_the_record_writer_writes_the_bytes_of_json_dumps() -> None:
    assert dumps(TRICKY) == _reference(TRICKY)
    for key, value in TRICKY.items():
        assert dumps({key: value}) == _reference({key: value}), key
        assert dumps(value) == _reference(value), key
    for scalar in (1, 0.5, math.nan, None, "x", True, np.float32(3.25)):
        assert dumps(scalar) == _reference(scalar)


def test_the_record_writer_writes_the_bytes_of_json_dumps_for_random_records() -> None:
    rng = random.Random(0)
    leaves = [0, 1, -7, 2**40, 0.1, 1e-16, -2.5e300, math.nan, math.inf, -0.0, True, False, None, "", "x", "é\n\"",
              np.float64(0.3), np.int64(-2), np.bool_(False), np.array([1.5, math.nan])]  # fmt: skip

    def value(depth: int) -> object:
        kind = rng.random()
        if depth > 3 or kind < 0.4:
            return rng.choice(leaves)
        if kind < 0.6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if kind < 0.7:  # a list of flat records, as `evaluated` is
            return [{f"k{j}": rng.choice(leaves) for j in range(rng.randrange(1, 4))} for _ in range(rng.randrange(4))]
        return {rng.choice(["a", "b", "c", "d", 1, 2]): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(500):
        record = {"record": value(0)}
        assert dumps(record) == _reference(record)


def test_the_record_writer_refuses_what_json_refuses() -> None:
    for bad in ({"a": {1, 2}}, {"a": [object()]}, {"a": [{"b": object()}]}):
        with pytest.raises(TypeError) as expected:
            _reference(bad)
        with pytest.raises(TypeError) as error:
            dumps(bad)
        assert str(error.value) == str(expected.value)


# ---- the command ----------------------------------------------------------------------------------------------


def test_the_command_parser_is_built_again_only_when_a_registry_or_the_environment_changed(monkeypatch, capsys):
    from hwevrsnas import cli
    from hwevrsnas.search.methods import GA, METHODS, Method, register_method

    parser = cli._parser()
    assert cli._parser() is parser
    monkeypatch.setenv("HWEVRSNAS_TEST_PARSER", "1")
    in_new_environment = cli._parser()
    assert in_new_environment is not parser and cli._parser() is in_new_environment
    register_method(Method("toy-parser", GA, None, frozenset(), "a method registered by a test"))
    try:
        with_method = cli._parser()
        assert with_method is not in_new_environment
        with pytest.raises(SystemExit):
            cli.main(["search", "--help"])
        assert "toy-parser" in capsys.readouterr().out
    finally:
        METHODS.unregister("toy-parser")
    assert cli._parser() is not with_method
