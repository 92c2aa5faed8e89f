"""A decider state as JSON that reads back equal, types and all (never pickle: the bytes live in
a database someone may edit, and unpickling runs whatever they wrote).

Plain JSON loses what the states hold: tuples come back as lists, dates and times as text, and
a frozen model as a dict. So every value that is not plain JSON is written as a one-key object
naming its type: `{"$tuple": [...]}`, `{"$datetime": "..."}`, `{"$date": "..."}`,
`{"$decimal": "..."}`, `{"$frozenset": [...]}`, `{"$map": [[key, value], ...]}` (a dict whose keys
are not all text, or one of which starts with "$"), and `{"$obj": [name, {field: value}]}` for
one of the classes the reader is given by name (pydantic models are validated as they load,
dataclasses built through their constructor). Any other type is refused when writing, and any
other "$" object when reading: nothing but the listed classes is ever built.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

Classes = Mapping[str, type]


def dumps(value: object, classes: Classes) -> bytes:
    names = {cls: name for name, cls in classes.items()}
    return orjson.dumps(_encode(value, names))


def loads(data: bytes, classes: Classes) -> Any:
    """Raises ValueError (or the class's own validation error) for anything not written by
    `dumps` with these classes."""
    return _decode(orjson.loads(data), classes)


_PLAIN = (str, int, bool, type(None))


def _encode(v: Any, names: Mapping[type, str]) -> Any:
    t = type(v)
    if t in _PLAIN:
        return v
    if t is float:
        if not math.isfinite(v):  # JSON has no such number (orjson would write null)
            raise ValueError("a state may not hold a float that is not finite")
        return v
    if t is dict:
        if all(type(k) is str and k[:1] != "$" for k in v):
            return {k: x if type(x) in _PLAIN else _encode(x, names) for k, x in v.items()}
        return {"$map": [[_encode(k, names), _encode(x, names)] for k, x in v.items()]}
    if t is list:
        return [x if type(x) in _PLAIN else _encode(x, names) for x in v]
    if t is tuple:
        return {"$tuple": [x if type(x) in _PLAIN else _encode(x, names) for x in v]}
    if t is datetime:
        return {"$datetime": v.isoformat()}
    if t is date:
        return {"$date": v.isoformat()}
    if t is Decimal:
        return {"$decimal": str(v)}
    if t is frozenset:
        return {"$frozenset": [_encode(x, names) for x in v]}
    name = names.get(t)
    if name is None:
        raise TypeError(f"a state may not hold a {t.__name__}")
    if isinstance(v, BaseModel):
        fields = v.__dict__  # a model's fields (extras, which these models forbid, live apart)
    elif dataclasses.is_dataclass(v):
        fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v) if f.init}
    else:
        raise TypeError(f"{t.__name__} is neither a pydantic model nor a dataclass")
    return {"$obj": [name, {k: x if type(x) in _PLAIN else _EMPTY[type(x)]() if not x and type(x)
                            in _EMPTY else _encode(x, names) for k, x in fields.items()}]}


#: What `_encode` writes for an empty tuple or dict, a state's most common field values, made
#: without a call each.
_EMPTY: dict[type, Any] = {tuple: lambda: {"$tuple": []}, dict: dict}


def _decode(v: Any, classes: Classes) -> Any:
    if isinstance(v, list):
        return [_decode(x, classes) for x in v]
    if not isinstance(v, dict):
        return v
    if not any(k.startswith("$") for k in v):
        return {k: _decode(x, classes) for k, x in v.items()}
    if len(v) != 1:
        raise ValueError("a tagged value has one key")
    (tag, body), = v.items()
    if tag == "$tuple":
        return tuple(_decode(x, classes) for x in _list(body))
    if tag == "$frozenset":
        return frozenset(_decode(x, classes) for x in _list(body))
    if tag == "$map":
        return {_decode(_pair(p)[0], classes): _decode(_pair(p)[1], classes) for p in _list(body)}
    if tag == "$datetime":
        return datetime.fromisoformat(_text(body))
    if tag == "$date":
        return date.fromisoformat(_text(body))
    if tag == "$decimal":
        return Decimal(_text(body))
    if tag == "$obj":
        name, fields = _pair(body)
        cls = classes.get(name) if isinstance(name, str) else None
        if cls is None or not isinstance(fields, dict):
            raise ValueError(f"not a class a state may hold: {name!r}")
        values = {k: _decode(x, classes) for k, x in fields.items()}
        if issubclass(cls, BaseModel):
            return cls.model_validate(values)
        return cls(**values)
    raise ValueError(f"unknown tag {tag}")


def _list(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise ValueError("expected a list")
    return body


def _pair(body: Any) -> list[Any]:
    if not isinstance(body, list) or len(body) != 2:
        raise ValueError("expected a pair")
    return body


def _text(body: Any) -> str:
    if not isinstance(body, str):
        raise ValueError("expected text")
    return body
