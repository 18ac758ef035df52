"""Declared axes: a family's one table of its suite section.

Each entry says what a suite key holds, its default, its check and, for an axis, the record
field each of its values fills. From that one table come (nvbench's lesson: a benchmark declares
its axes, the runner expands, checks and keys them):

- the suite's checking, in one error style, and its defaults (Axes.check, Axes.values);
- the cartesian plan (Axes.points), with the family's filter for the points that do not apply
  (a combination that does not exist is no case; one the device lacks is a skipped row);
- a record's identity (Axes.identity): its family and the fields its axes fill. rerun, export
  and compare key records by it; the harness refuses a plan in which two cases share one
  (smbench.run.plan), so identity is unique by construction.

A Setting steers a case (a time budget, a seed, a cap) without being part of what it measured;
a Derived axis fills a record field from values the family computes at plan time (a size sweep
from the device's memory), so it is part of identity without being a suite key.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable

from smbench.errors import SmbenchError

Check = tuple[Callable[[object], bool], str]  # (predicate, what a value should be): smbench.settings
ALL = "all"  # an axis with fixed choices takes "all": every choice, in the table's order


@dataclass(frozen=True)
class Axis:
    """A suite key holding a list of values; each value fills `field` of a case's record (a tuple
    of fields when each value is a tuple, e.g. a copy's (direction, host memory))."""

    key: str
    field: str | tuple[str, ...]
    default: tuple
    choices: tuple | None = None  # the values there are ("all" means these, in this order)
    item: Check | None = None  # the check of one value, where there are no fixed choices
    help: str = ""
    into: Callable | None = None  # a suite value -> its record field's (MiB -> bytes); default itself
    unit: str = ""  # of the record field's values: "bytes" is written 4 KiB, 1 GiB where shown

    def should(self) -> str:
        if self.choices is not None:
            shown = ", ".join(_shown(c) for c in self.choices)
            return f"\"all\" or a non-empty list of {shown}"
        return f"a non-empty list, each {self.item[1]}" if self.item else "a non-empty list"

    def valid(self, value) -> bool:
        if self.choices is not None and value == ALL:
            return True
        if not isinstance(value, list) or not value:
            return False
        one = (lambda x: _member(x, self.choices)) if self.choices is not None else (self.item[0] if self.item else None)
        return one is None or all(one(x) for x in value)

    def resolve(self, value) -> list:
        """The suite's value as the list of values the plan crosses (tuples where the field is)."""
        values = list(self.choices) if value == ALL else list(value)
        if isinstance(self.field, tuple):
            values = [tuple(v) for v in values]
        return list(dict.fromkeys(values))  # a value listed twice is one case

    def field_values(self, values: list) -> list[tuple]:
        """Each value as the tuple of its record fields' values."""
        into = self.into or (lambda v: v)
        return [v if isinstance(self.field, tuple) else (into(v),) for v in values]

    @property
    def fields(self) -> tuple[str, ...]:
        return self.field if isinstance(self.field, tuple) else (self.field,)


@dataclass(frozen=True)
class Derived:
    """An axis whose values the family computes at plan time (a working-set sweep from the
    device's memory and the suite's caps): part of identity, not a suite key."""

    field: str
    help: str = ""
    unit: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)


@dataclass(frozen=True)
class Setting:
    """A suite key that steers cases without being part of what they measured; or, with a
    `field`, one value every case shares that is part of it (a stride in bytes, chains per
    thread): in identity, not crossed."""

    key: str
    default: object
    check: Check
    help: str = ""
    field: str = ""
    unit: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,) if self.field else ()

    def valid(self, value) -> bool:
        return self.check[0](value)

    def should(self) -> str:
        return self.check[1]


Entry = Axis | Derived | Setting


class Values(dict):
    """A family's section with every default filled in: key -> value (an axis: its list)."""


@dataclass(frozen=True)
class Point:
    """One combination of axis values: the record fields it fills, and why the device skips it
    ('' when it runs)."""

    fields: dict
    skip: str = ""


class Axes:
    """A family's suite section: its axes and settings, in the order the docs list them."""

    def __init__(self, *entries: Entry, together: Callable[[Values], str] | None = None):
        keys = [e.key for e in entries if not isinstance(e, Derived)]
        fields = [f for e in entries for f in e.fields]
        for what, names in (("key", keys), ("record field", fields)):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"axes declare the {what} {twice[0]!r} twice")
        self.entries = entries
        self.together = together  # how settings go together: '' or what is wrong, in words
        self.by_key = {e.key: e for e in entries if not isinstance(e, Derived)}

    # ------------------------------------------------------------ the suite section

    def schema(self) -> dict[str, Check]:
        """key -> (check, what it should be): the shape suites.check reads."""
        return {key: (entry.valid, entry.should()) for key, entry in self.by_key.items()}

    def check(self, section: dict, where: str, family: str) -> None:
        """Every key known and valid, then how they go together: a one-line SmbenchError."""
        if not isinstance(section, dict):
            raise SmbenchError(f"{where}: [{family}] should be a table, not {type(section).__name__}")
        for key, value in section.items():
            self.check_setting(key, value, where, family)
        if self.together is not None:
            wrong = self.together(self.values(section))
            if wrong:
                raise SmbenchError(f"{where}: [{family}] {wrong}")

    def check_setting(self, key: str, value, where: str, family: str) -> None:
        """One key known (else the nearest named) and its value valid: a one-line SmbenchError."""
        entry = self.by_key.get(key)
        if entry is None:
            known = f"known: {', '.join(self.by_key)}" if self.by_key else "it has none: the section alone runs it"
            raise SmbenchError(f"{where}: [{family}] has no setting {key!r}{nearest(key, self.by_key)} ({known})")
        if not entry.valid(value):
            raise SmbenchError(f"{where}: [{family}] {key} = {value!r} should be {entry.should()}")

    def values(self, section: dict | None) -> Values:
        """The section with its defaults: an axis's value as the list its plan crosses."""
        section = section or {}
        values = Values()
        for key, entry in self.by_key.items():
            value = section.get(key, entry.default)
            values[key] = entry.resolve(value) if isinstance(entry, Axis) else value
        return values

    # ------------------------------------------------------------ the plan

    def points(self, values: Values, *, derived: dict[str, Iterable] | None = None,
               fixed: dict | None = None, only: Iterable[str] | None = None,
               applies: Callable[[dict], bool | str] | None = None) -> list[Point]:
        """The cartesian product of the axes (in declaration order; `only` names the suite keys
        and derived fields to cross, the others left out of these points), derived axes' values
        given here (a derived axis given none is left out), `fixed` fields set on every point. `applies(fields)`: True to run, False
        for a combination that does not exist (no case), a string for one the device cannot
        run (a skipped row with that reason)."""
        derived = {k: list(v) for k, v in (derived or {}).items()}
        chosen = set(only) if only is not None else None
        names, lists = [], []
        for entry in self.entries:
            if isinstance(entry, Setting):
                continue
            name = entry.field if isinstance(entry, Derived) else entry.key
            if chosen is not None and name not in chosen:
                continue
            if isinstance(entry, Derived):
                if name not in derived:
                    continue  # not part of these points (an MLX-only path on CUDA)
                names.append(entry.fields)
                lists.append([(v,) for v in derived[name]])
            else:
                names.append(entry.fields)
                lists.append(entry.field_values(values[entry.key]))
        found = []
        for combination in itertools.product(*lists):
            fields = {field: value for group, values_ in zip(names, combination)
                      for field, value in zip(group, values_)}
            fields.update(fixed or {})
            verdict = True if applies is None else applies(fields)
            if verdict is False:
                continue
            found.append(Point(fields, verdict if isinstance(verdict, str) else ""))
        return found

    # ------------------------------------------------------------ identity

    @property
    def identity_fields(self) -> tuple[str, ...]:
        return tuple(f for e in self.entries for f in e.fields)

    def identity(self, record: dict) -> tuple:
        """What a record measured: its family and every field its axes fill (None where a
        record of another sweep has no such field), lists made hashable."""
        return (record.get("family"), *(_hashable(record.get(f)) for f in self.identity_fields))

    def describe(self, record: dict) -> str:
        """The identity in words: 'stream op=triad dtype=f32 width=16 memory=device
        working_set=64 MiB' (fields the record lacks left out, sizes with their units)."""
        units = {f: getattr(e, "unit", "") for e in self.entries for f in e.fields}
        parts = [f"{f}={_written(record[f], units[f])}" for f in self.identity_fields if record.get(f) is not None]
        return " ".join([str(record.get("family")), *parts])


def nearest(word: str, known: Iterable[str]) -> str:
    """'; did you mean X?' for the closest known name, '' when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def duplicates(identities: Iterable[tuple]) -> list[tuple]:
    """Identities that occur more than once, in first-seen order."""
    seen, twice = set(), []
    for identity in identities:
        if identity in seen and identity not in twice:
            twice.append(identity)
        seen.add(identity)
    return twice


def _written(value, unit: str) -> str:
    if unit == "bytes" and isinstance(value, int) and not isinstance(value, bool):
        from smbench.units import size_text

        return size_text(value)
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return str(value)


def _hashable(value):
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _member(value, choices: tuple) -> bool:
    """In the choices, of the same type (True is not the width 1; a TOML list is a tuple choice)."""
    if isinstance(value, list):
        value = tuple(value)
    return any(value == c and type(value) is type(c) for c in choices)


def _shown(choice) -> str:
    return "[" + ", ".join(map(str, choice)) + "]" if isinstance(choice, tuple) else str(choice)
