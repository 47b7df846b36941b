"""The usual predict request, encoded in a few whole-request passes.

Nearly every request is a list of flat objects holding exactly the signature's inputs,
numbers as JSON numbers and categories the vocabulary knows. `encode_plain_rows` encodes
such a request with C-level passes over all values at once (item getters, one type set,
one dict lookup per category value through `map`, NumPy range checks for all numeric
columns together) instead of Python code per column and value. It gives up (None) on
anything else: a missing or extra key, a wrong type, a nested list or {"b64": ...}, an
unknown category, a number beyond float32. The general path in pipeline.serving.instances
then reads the request again and names the problem, so every error and every unusual
value is reported exactly as before; this module only has to be right about plain requests.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

import numpy as np

from pipeline.training import schema

_NUMBERS = operator.itemgetter(*schema.NUMERIC_FEATURES)
_CATEGORIES = operator.itemgetter(*schema.CATEGORICAL_FEATURES)
_ID = operator.itemgetter(schema.ID_COLUMN)
_LOOKUPS = tuple({value: code for code, value in enumerate(schema.CATEGORICAL_VALUES[name])}
                 for name in schema.CATEGORICAL_FEATURES)
_CATEGORY_COUNT = len(_LOOKUPS)
_CODE_OF = dict.__getitem__  # (lookup, value) -> code; KeyError for an unknown value
# Many instances: each value is looked up once in one dict of every feature's values (a bound
# method, no per-value feature dispatch), then its feature's code is read from a table in one
# NumPy call (-1: a value of another feature's vocabulary, unknown to this one).
_VALUE_IDS = {value: index for index, value in enumerate(dict.fromkeys(chain.from_iterable(_LOOKUPS)))}
_VALUE_ID_OF = _VALUE_IDS.__getitem__
_CODE_TABLE = np.full(_CATEGORY_COUNT * len(_VALUE_IDS), -1, dtype=np.intp)
for _feature, _lookup in enumerate(_LOOKUPS):
    _CODE_TABLE[[_feature * len(_VALUE_IDS) + _VALUE_IDS[value] for value in _lookup]] = list(_lookup.values())
_TABLE_ROWS = np.arange(_CATEGORY_COUNT, dtype=np.intp) * len(_VALUE_IDS)  # each feature's slice of the table
_NUMBER_TYPES = frozenset({int, float})
_STR_ONLY = {str}
_LOW = np.array([schema.NUMERIC_RANGES[name].low for name in schema.NUMERIC_FEATURES], dtype=np.float64)
_HIGH = np.array([schema.NUMERIC_RANGES[name].high for name in schema.NUMERIC_FEATURES], dtype=np.float64)
_INTEGER = np.array([schema.NUMERIC_RANGES[name].integer for name in schema.NUMERIC_FEATURES])
_DICT_ONLY = {dict}
FLOAT32_MAX = float(np.finfo(np.float32).max)
Unusual = Mapping[tuple[str, str], int]  # (kind, feature) -> instances
# numbers, codes (arrays, or for one instance a list of its one row of each: instances.Batch.of_rows),
# customer ids, unusual, and per instance its category values then its numbers (the order
# the prediction log stores: pipeline.serving.predlog.LOGGED_FEATURES)
Encoded = tuple[np.ndarray | list[Any], np.ndarray | list[Any], list[Any], Unusual, list[tuple[Any, ...]]]
_SMALL = 8  # up to this many instances, Python checks the numbers faster than NumPy's per-call cost
_BOUNDS = tuple((schema.NUMERIC_RANGES[name].low, schema.NUMERIC_RANGES[name].high,
                 schema.NUMERIC_RANGES[name].integer) for name in schema.NUMERIC_FEATURES)


def encode_plain_rows(instances: list[Any], names: tuple[str, ...]) -> Encoded | None:
    """The columns of instances.Batch, the unusual counts and the values as logged, for row
    instances that are all plain and valid; else None."""
    count = len(instances)
    if count == 1:
        return _encode_one(instances[0], names)
    if set(map(type, instances)) != _DICT_ONLY or set(map(len, instances)) != {len(names)}:
        return None
    with_ids = schema.ID_COLUMN in names
    try:  # every instance has len(names) keys and all of `names`: exactly the signature's inputs
        numbers = list(map(_NUMBERS, instances))
        category_rows = list(map(_CATEGORIES, instances))
        ids = list(map(_ID, instances)) if with_ids else None
    except KeyError:
        return None
    if not set(map(type, chain.from_iterable(numbers))) <= _NUMBER_TYPES:
        return None
    if ids is not None and set(map(type, ids)) != _STR_ONLY:
        return None
    codes = _category_codes(category_rows, count)
    if codes is None:
        return None
    if count <= _SMALL:
        unusual = _small_out_of_range(numbers)
        if unusual is None:
            return None
        numeric = _number_array(numbers, count)
    else:
        numeric = _number_array(numbers, count)
        if (np.abs(numeric) > FLOAT32_MAX).any():
            return None
        unusual = _out_of_range(numeric)
    logged = list(map(operator.add, category_rows, numbers))  # tuples joined in C: no more lookups
    return numeric, codes, ids if ids is not None else [None] * count, unusual, logged


def _number_array(numbers: list[tuple[Any, ...]], count: int) -> np.ndarray:
    # fromiter over the flattened rows: about a fifth less than np.array's nested-sequence discovery
    return np.fromiter(chain.from_iterable(numbers), dtype=np.float64, count=count * len(_BOUNDS)
                       ).reshape(count, len(_BOUNDS))


def _category_codes(category_rows: list[tuple[Any, ...]], count: int) -> np.ndarray | None:
    """The (count, 15) codes of the instances' category values; None when one is unknown to
    its feature or not a string."""
    try:
        value_ids = np.fromiter(map(_VALUE_ID_OF, chain.from_iterable(category_rows)), dtype=np.intp,
                                count=count * _CATEGORY_COUNT).reshape(count, _CATEGORY_COUNT)
    except (KeyError, TypeError):  # a value of no vocabulary, or not a string (unhashable: TypeError)
        return None
    codes = _CODE_TABLE[value_ids + _TABLE_ROWS]
    return None if (codes < 0).any() else codes


def _encode_one(instance: Any, names: tuple[str, ...]) -> Encoded | None:
    """encode_plain_rows of a single instance (most online requests): the same checks, no
    NumPy call (its row of numbers and row of codes, for instances.Batch.of_rows)."""
    if type(instance) is not dict or len(instance) != len(names):
        return None
    with_id = schema.ID_COLUMN in names
    try:
        numbers = _NUMBERS(instance)
        categories = _CATEGORIES(instance)
        ids = [_ID(instance)] if with_id else [None]
    except KeyError:
        return None
    if not set(map(type, numbers)) <= _NUMBER_TYPES or (with_id and type(ids[0]) is not str):
        return None
    try:
        codes = list(map(_CODE_OF, _LOOKUPS, categories))
    except (KeyError, TypeError):
        return None
    unusual = _small_out_of_range([numbers])
    if unusual is None:
        return None
    return [numbers], [codes], ids, unusual, [categories + numbers]


def _out_of_range(numeric: np.ndarray) -> Unusual:
    """Instances per numeric feature outside the training range (scored all the same)."""
    outside = (numeric < _LOW) | (numeric > _HIGH) | (_INTEGER & (numeric != np.floor(numeric)))
    if not outside.any():
        return {}
    found = outside.sum(axis=0).tolist()
    return Counter({("out_of_range", name): n for name, n in zip(schema.NUMERIC_FEATURES, found, strict=True) if n})


def _range_check(bounds: tuple[tuple[float, float, bool], ...]) -> Callable[..., bool]:
    """A function of one instance's numbers telling whether all are inside the training
    ranges (and whole where the feature is an integer), compiled from the schema into one
    chain of comparisons: about a third of the cost of looping over the bounds."""
    arguments = ", ".join(f"v{index}" for index in range(len(bounds)))
    limits = ", ".join(f"low{index}=bounds[{index}][0], high{index}=bounds[{index}][1]" for index in range(len(bounds)))
    tests = " and ".join(f"low{index} <= v{index} <= high{index}"
                         + (f" and v{index} == int(v{index})" if integer else "")
                         for index, (_, _, integer) in enumerate(bounds))
    # the bounds are the lambda's keyword defaults (fast locals), not numbers printed into the source
    return eval(f"lambda {arguments}, *, {limits}: {tests}", {"bounds": bounds})  # noqa: S307 - our own source


_IN_RANGE = _range_check(_BOUNDS)


def _small_out_of_range(numbers: list[tuple[Any, ...]]) -> Unusual | None:
    """_out_of_range of a few instances' numbers in Python; None when one is beyond float32."""
    unusual: Counter | None = None
    for row in numbers:
        if _IN_RANGE(*row):  # the usual instance
            continue
        for value, name, (low, high, integer) in zip(row, schema.NUMERIC_FEATURES, _BOUNDS, strict=True):
            if not low <= value <= high or (integer and value != int(value)):
                if not -FLOAT32_MAX <= value <= FLOAT32_MAX:
                    return None
                unusual = unusual if unusual is not None else Counter()
                unusual["out_of_range", name] += 1
    return unusual if unusual is not None else {}
