"""Hypothesis strategies for any protobuf message, from its descriptor: hostile values (NUL and
control characters, long and odd text, huge lists, extreme numbers and timestamps, unknown enum
numbers) mixed with plausible ones, so that fuzzing reaches past the first check."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

PLAUSIBLE = [
    "a",
    "a/o",
    "a/o/p",
    "ab",
    "acme_corp",
    "acmeXcorp",
    "alice",
    "admin",
    "bob",
    "devs",
    "_account_admin",
    "_all_resources_including_child_scopes",
    "core_pipeline_view",
    "core_permission_manage",
    "PIPELINE",
    "SECRET",
    "deploy",
    "x" * 128,
    "x" * 129,
]
HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            "\x00",
            "a\x00",
            "a\n",
            "a/",
            "/a",
            "a//b",
            "a/o/p/q",
            "%",
            "_",
            "a'; DROP TABLE entities; --",
            "\u202e",
            "\ud7ff",
            "é" * 300,
        ]
    ),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
    st.builds(lambda n: "y" * n, st.integers(200, 5_000)),
)
TEXT = st.one_of(st.sampled_from(PLAUSIBLE), HOSTILE_TEXT)
# Fields that must be valid for a request to get further: mostly valid, sometimes hostile.
_VALID_BY_NAME: dict[str, list[str]] = {
    "scope": ["a", "a/o", "a/o/p"],
    "identifier": ["alice", "admin", "devs", "x1", "_account_admin", "k1"],
    "permission": ["core_pipeline_view", "core_secret_access", "core_flag_toggle"],
    "resource_type": ["PIPELINE", "SECRET"],
}
_ALIASES = {
    "account": "scope",
    "resource_scope": "scope",
    "role_scope": "scope",
    "resource_group_scope": "scope",
    "included_scopes": "scope",
    "user": "identifier",
    "members": "identifier",
    "role": "identifier",
    "resource_group": "identifier",
    "resource_identifier": "identifier",
    "identifiers": "identifier",
    "permissions": "permission",
}


def _text(name: str) -> st.SearchStrategy[str]:
    valid = _VALID_BY_NAME.get(_ALIASES.get(name, name))
    if valid is None:
        return TEXT
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), HOSTILE_TEXT)


INT64 = st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1))
INT32 = st.one_of(st.integers(-3, 3), st.integers(-(2**31), 2**31 - 1))
UINT = st.one_of(st.integers(0, 3), st.integers(0, 2**32 - 1))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _text(field.name)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-5, 1000))  # open enums
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return INT64
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return UINT
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    return INT32


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, depth + 1)
    return _scalar(field)


def _small(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """An item of a huge list: plausible and small, so that the list is long, not heavy."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return st.just({})
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.sampled_from(PLAUSIBLE[:13])
    return _scalar(field)


def _timestamp() -> st.SearchStrategy[dict[str, int]]:
    seconds = st.one_of(
        st.integers(0, 4_102_444_800), st.integers(-(2**63), 2**63 - 1), st.just(253_402_300_800)
    )
    return st.fixed_dictionaries({"seconds": seconds, "nanos": st.integers(-(2**31), 2**31 - 1)})


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field values of a message as a dict (see `build`), each field present or not."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp()
    if depth > 3:
        return st.just({})
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key = _scalar(field.message_type.fields_by_name["key"])
            value = _value(field.message_type.fields_by_name["value"], depth)
            fields[field.name] = st.dictionaries(key, value, max_size=3)
        elif field.is_repeated:
            fields[field.name] = st.one_of(
                st.lists(_value(field, depth), max_size=4),
                st.builds(lambda n, v: [v] * n, st.integers(1001, 5_000), _small(field)),
            )
        else:
            fields[field.name] = _value(field, depth)
    return st.fixed_dictionaries({}, optional=fields)


def build(cls: type[Message], values: dict[str, Any]) -> Message:
    """A message of `cls` from `messages` values; a value protobuf refuses is left out."""
    message = cls()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict[str, Any]) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        try:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                target = getattr(message, name)
                for k, v in value.items():
                    if isinstance(v, dict):
                        _fill(target[k], v)
                    else:
                        target[k] = v
            elif field.is_repeated:
                target = getattr(message, name)
                for v in value:
                    if isinstance(v, dict):
                        _fill(target.add(), v)
                    else:
                        target.append(v)
            elif isinstance(value, dict):
                _fill(getattr(message, name), value)
                getattr(message, name).SetInParent()
            else:
                setattr(message, name, value)
        except (ValueError, TypeError, OverflowError):
            continue  # not representable in protobuf (e.g. a lone surrogate): not sendable


# ---------------------------------------------------------------- mutation of a valid request

Path = tuple[str, ...]


def _seed_value(field: FieldDescriptor, depth: int) -> Any:
    if field.message_type is not None:
        return seed(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_STRING:
        if "email" in field.name:
            return "alice@example.com"
        valid = _VALID_BY_NAME.get(_ALIASES.get(field.name, field.name))
        return valid[0] if valid else ""
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return next((v.number for v in field.enum_type.values if v.number), 0)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return False
    return 0


def seed(descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
    """A plausible request: every field set to a value that passes validation in account `a`
    (scopes `a`, identifiers `alice`, known permissions and types), so that a mutation of one
    or two fields reaches as deep as that field goes."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return {"seconds": 4_102_444_800}  # 2100-01-01: a valid future
    values: dict[str, Any] = {}
    if depth > 3:
        return values
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        if field.name in ("etag", "page_token", "request_id"):
            continue  # empty: "any", "first page", "no retry"
        value = _seed_value(field, depth)
        values[field.name] = [value] if field.is_repeated else value
    return values


def _paths(descriptor: Descriptor, values: dict[str, Any], prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    for field in descriptor.fields:
        path = (*prefix, field.name)
        found.append(path)
        value = values.get(field.name)
        if isinstance(value, dict) and field.message_type is not None:
            found += _paths(field.message_type, value, path)
    return found


def _field_at(descriptor: Descriptor, path: Path) -> FieldDescriptor:
    field = descriptor.fields_by_name[path[0]]
    for name in path[1:]:
        assert field.message_type is not None
        field = field.message_type.fields_by_name[name]
    return field


def _hostile(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.is_repeated and not (
        field.message_type is not None and field.message_type.GetOptions().map_entry
    ):
        return st.one_of(
            st.lists(_value(field, 2), max_size=4),
            st.builds(lambda n, v: [v] * n, st.integers(1001, 5_000), _small(field)),
        )
    if field.type == FieldDescriptor.TYPE_STRING:
        return HOSTILE_TEXT
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return st.dictionaries(TEXT, TEXT, max_size=3)
    return _value(field, 2)


@st.composite
def mutations(draw: st.DrawFn, descriptor: Descriptor) -> dict[str, Any]:
    """A valid seed with one to three of its fields (at any depth) replaced by hostile values."""
    values = seed(descriptor)
    paths = _paths(descriptor, values)
    if not paths:
        return values
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        target = values
        for name in path[:-1]:
            nested = target.get(name)
            if not isinstance(nested, dict):
                nested = target[name] = {}
            target = nested
        target[path[-1]] = draw(_hostile(_field_at(descriptor, path)))
    return values
