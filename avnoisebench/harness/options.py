"""Typed method options: each method declares a frozen `Options` dataclass whose fields carry a type, a default, a
range or choices and a one-line help; values from the CLI (strings) or a sweep file (TOML values) are converted by
field type and every field is checked when the options are created, before any data is touched."""

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from avnoisebench.errors import AvnbError

if TYPE_CHECKING:
    from avnoisebench.harness.budget import Budget
    from avnoisebench.harness.data import TrainData

_TRUE, _FALSE, _NONE = ("true", "on", "yes", "1"), ("false", "off", "no", "0"), ("none", "null")


def option(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A dataclass field of an Options class: its default, one-line help, and optional bounds [low, high] (an open
    end excludes the bound itself); choices come from a `Literal[...]` annotation."""
    bounds = {"low": low, "high": high, "low_open": low_open, "high_open": high_open}
    return field(default=default, metadata={"help": help, **bounds})


@dataclass(frozen=True)
class OptionInfo:
    """What `avnb methods --options M` shows of one option."""

    name: str
    type: str
    default: Any
    allowed: str
    help: str


def _parts(kind: Any) -> tuple[list[Any], bool]:
    """The member types of an annotation and whether it admits None."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        members = [k for k in typing.get_args(kind) if k is not type(None)]
        return members, len(members) < len(typing.get_args(kind))
    return [kind], False


def _type_name(kind: Any) -> str:
    members, nullable = _parts(kind)
    names = [
        " | ".join(repr(c) for c in typing.get_args(k)) if typing.get_origin(k) is Literal else k.__name__
        for k in members
    ]
    return " | ".join(names) + (" | none" if nullable else "")


def _convert_member(member: Any, value: Any) -> Any:
    """`value` as one member type of an annotation holds it; raises ValueError saying what it wanted."""
    if typing.get_origin(member) is Literal:
        choices = typing.get_args(member)
        if value in choices:
            return value
        raise ValueError(f"choose one of {', '.join(map(str, choices))}")
    if member is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("give true or false")
    if member is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise ValueError("give a whole number")
    if member is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError("give a number")
    if member is str and isinstance(value, str):
        return value
    raise ValueError(f"expected {_type_name(member)}")


def _convert(kind: Any, value: Any) -> Any:
    """`value` as the annotation `kind` holds it, trying each member of a union in turn (strings from the CLI are
    parsed); raises ValueError when no member takes it."""
    members, nullable = _parts(kind)
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE and nullable):
        if nullable:
            return None
        raise ValueError("none is not allowed")
    problems = []
    for member in members:
        try:
            return _convert_member(member, value)
        except ValueError as exc:
            problems.append(str(exc))
    raise ValueError(" or ".join(dict.fromkeys(problems)))


def _allowed(meta: Mapping[str, Any], kind: Any) -> str:
    """The values a field takes: its choices, its numeric range, and none where allowed."""
    members, nullable = _parts(kind)
    parts = [str(c) for m in members if typing.get_origin(m) is Literal for c in typing.get_args(m)]
    if any(m in (int, float) for m in members):
        low, high = meta.get("low"), meta.get("high")
        if low is None and high is None:
            parts.insert(0, "any number")
        elif high is None:
            parts.insert(0, f"> {low:g}" if meta["low_open"] else f">= {low:g}")
        else:
            left = "any" if low is None else f"{'(' if meta['low_open'] else '['}{low:g}"
            parts.insert(0, f"{left}, {high:g}{')' if meta['high_open'] else ']'}")
    if not parts:
        parts.append("true or false" if bool in members else "any")
    return ", ".join(parts) + (", none" if nullable else "")


def _in_range(value: Any, meta: Mapping[str, Any]) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return True
    if isinstance(value, float) and not math.isfinite(value):
        return False
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta["low_open"] and value == low)):
        return False
    return not (high is not None and (value > high or (meta["high_open"] and value == high)))


@dataclass(frozen=True)
class Options:
    """Base of every method's options; subclasses are frozen dataclasses of `option(...)` fields."""

    method: ClassVar[str] = "method"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                converted = _convert(hints[f.name], value)
            except ValueError as exc:
                raise AvnbError(f"{self.method} option {f.name}={value!r}: {exc}") from None
            if not _in_range(converted, f.metadata):
                allowed = _allowed(f.metadata, hints[f.name])
                raise AvnbError(f"{self.method} option {f.name}={value!r} is out of range; allowed: {allowed}")
            object.__setattr__(self, f.name, converted)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], owner: str | None = None) -> Self:
        """Options from name -> value (strings from the CLI or typed values from a sweep file), every field checked;
        an unknown name is refused with the list of known ones (`owner` names the method in that message)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            owner = owner or cls.method
            raise AvnbError(
                f"method {owner!r} has no option(s) {', '.join(unknown)}; its options are "
                f"{', '.join(known) or 'none'} (see `avnb methods --options {owner}`)"
            )
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every option and its value (JSON-ready)."""
        return asdict(self)

    def resolve(self, data: "TrainData", budget: "Budget") -> Self:
        """The options with every data- or budget-dependent default filled in (k against the number of samples,
        phase lengths against the epochs); checked again. The base class has none."""
        return self

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        return {k: v for k, v in self.as_dict().items() if defaults.get(k, MISSING) != v}

    @classmethod
    def describe(cls) -> list[OptionInfo]:
        """One line of facts per option: name, type, default, allowed values, help."""
        hints = typing.get_type_hints(cls)
        return [
            OptionInfo(
                f.name, _type_name(hints[f.name]), f.default, _allowed(f.metadata, hints[f.name]), f.metadata["help"]
            )
            for f in fields(cls)
        ]


@dataclass(frozen=True)
class NoOptions(Options):
    """A method without options."""
