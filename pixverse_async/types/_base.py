"""Base classes and shared field types of the SDK's pydantic models.

Strict in, lenient out (CONVENTIONS 7):

* :class:`RequestModel` forbids unknown fields, is frozen, and validates strictly: an ``int``
  field takes a real ``int`` only (never a ``bool``, a ``float`` or a numeric string), a ``str``
  field a ``str``, a ``bool`` field a ``bool``. Every documented rule of the API reference is
  checked before any I/O; where the reference is uncertain the wider set is accepted.
* :class:`ResponseModel` ignores unknown fields, so a new server field never breaks a caller.

:func:`build` constructs a request model and turns pydantic's ``ValidationError`` into one
:class:`~pixverse_async.RequestValidationError` naming the field (a dotted path such as
``image_references[1].ref_name``) and saying how to fix it.

Error conventions used by the validators of :mod:`pixverse_async.types`:

* a field-level check raises :func:`field_error` with a predicate (``"must be ..."``); the
  field's path is prepended when the error is reported;
* a rule spanning several fields raises :func:`rule_error` with a whole sentence and the field
  to blame.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from .. import _rules as rules
from .._exceptions import RequestValidationError

__all__ = [
    "ID_MAX",
    "ID_MIN",
    "Id",
    "IdList",
    "OpaqueStr",
    "RequestModel",
    "ResponseModel",
    "Seed",
    "SeedAlways",
    "StrList",
    "build",
    "choice",
    "credits_fallback",
    "describe_error",
    "field_error",
    "max_chars",
    "random_seed",
    "rule_error",
]

#: IDs are signed 64-bit integers on the wire (reference 1.3)
ID_MIN = -(2**63)
ID_MAX = 2**63 - 1

_RULE = "pixverse_rule"
_FIELD = "pixverse_field"
_REPR_MAX = 60

# Field names people reach for that the API (or the SDK, per a Project decision) spells
# differently. Used to improve the "unknown field" message.
_FIELD_HINTS: dict[str, str] = {
    "lip_sync_switch": "the SDK sends lip_sync_tts_switch (Project decision 3)",
    "keyframe_ids": "send keyframe_id, one int (Project decision 9)",
    "first_frame_img_id": "the API field is first_frame_img (an img_id)",
    "last_frame_img_id": "the API field is last_frame_img (an img_id)",
    "aspect_ratio": "this endpoint takes the aspect ratio from its input image or video",
    "image_id": "image inputs are img_id / img_ids (from image upload)",
}


def field_error(predicate: str) -> PydanticCustomError:
    """A field-level error; ``predicate`` reads after the field name (``"must be ..."``)."""
    return PydanticCustomError(_FIELD, "{predicate}", {"predicate": predicate})


def rule_error(message: str, *, field: str) -> PydanticCustomError:
    """A rule spanning several fields: a whole sentence, blamed on ``field`` (dotted path)."""
    return PydanticCustomError(_RULE, "{message}", {"message": message, "field": field})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_MAX else f"{text[: _REPR_MAX - 3]}..."


def choice(choices: Sequence[str], note: str = "") -> AfterValidator:
    """Validator: the value is one of ``choices`` (exact, case-sensitive).

    Args:
        choices: the accepted values, usually a tuple from :mod:`pixverse_async._rules`.
        note: appended to the message after the list, e.g. ``" for modify (1080p ...)"``.
    """
    allowed = tuple(choices)

    def check(value: str) -> str:
        if value not in allowed:
            raise field_error(f"must be one of {', '.join(allowed)}{note} (got {_short(value)})")
        return value

    return AfterValidator(check)


def max_chars(limit: int, *, nonempty: bool = False) -> AfterValidator:
    """Validator: at most ``limit`` Unicode characters; with ``nonempty``, not blank."""

    def check(value: str) -> str:
        if nonempty and not value.strip():
            raise field_error("must not be empty or blank")
        if len(value) > limit:
            raise field_error(f"has {len(value)} characters; the limit is {limit} (shorten it)")
        return value

    return AfterValidator(check)


def _int_range(low: int, high: int, what: str) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise field_error(f"must be {what} from {low} to {high} (got {value})")
        return value

    return check


def _list_from_tuple(value: Any) -> Any:
    # A tuple is as good as a list for a JSON array; everything else is left to strict mode.
    return list(value) if isinstance(value, tuple) else value


def _item_list(value: Any) -> Any:
    # Any sequence of any mappings (the methods take Sequence[Mapping | model]).
    if isinstance(value, (list, tuple)):
        return [dict(v) if isinstance(v, Mapping) and not isinstance(v, dict) else v for v in value]
    return value


def random_seed() -> int:
    """A random seed in the API's range 0..2147483647 (for endpoints where one is sent always)."""
    return random.randint(rules.SEED_MIN, rules.SEED_MAX)


def _seed_or_random(value: Any) -> Any:
    return random_seed() if value is None else value


_SEED_RANGE = AfterValidator(_int_range(rules.SEED_MIN, rules.SEED_MAX, "an integer"))

#: an API id: a real ``int`` (strict mode rejects bool, float and str) in the int64 range
Id = Annotated[int, AfterValidator(_int_range(ID_MIN, ID_MAX, "a 64-bit integer id"))]
#: ``seed``: 0..2147483647
Seed = Annotated[int, _SEED_RANGE]
#: ``seed`` on endpoints where one is always sent: ``None`` (or leaving it out) draws one
SeedAlways = Annotated[int, BeforeValidator(_seed_or_random), _SEED_RANGE]
#: a list of ids (a tuple is accepted and sent as a JSON array)
IdList = Annotated[list[Id], BeforeValidator(_list_from_tuple)]
#: a list of strings (a tuple is accepted and sent as a JSON array)
StrList = Annotated[list[str], BeforeValidator(_list_from_tuple)]
#: BeforeValidator for lists of item models: tuples and any Mapping accepted
ItemList = BeforeValidator(_item_list)


def _opaque_str(value: Any) -> Any:
    # Lenient out: a number where a string is documented (an id, a timestamp) is kept as text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


#: a response string the SDK does not interpret; a number is accepted and kept as text
OpaqueStr = Annotated[str, BeforeValidator(_opaque_str)]


def credits_fallback(data: Any) -> Any:
    """Before-validator of create responses: ``credits``, else ``credit`` (Project decision 6)."""
    if isinstance(data, dict) and data.get("credits") is None and "credit" in data:
        return {**data, "credits": data["credit"]}
    return data


class RequestModel(BaseModel):
    """Base of every request body: strict, frozen, no unknown fields.

    Build one with :func:`build` to get a :class:`~pixverse_async.RequestValidationError` on
    bad input; calling the class directly raises pydantic's ``ValidationError``.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        validate_default=True,
        # the validator is built on first use, not when ``import pixverse_async`` defines
        # the ~35 models (issue 11); behaviour is the same, the first use pays ~1 ms
        defer_build=True,
    )

    def to_body(self) -> dict[str, Any]:
        """The JSON body to send: API field names, only the fields that are set."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class ResponseModel(BaseModel):
    """Base of every response: unknown fields ignored, fields readable by name or alias."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        frozen=True,
        defer_build=True,  # built on first use, as for RequestModel
    )


RequestT = TypeVar("RequestT", bound=RequestModel)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _type_name(value: Any) -> str:
    return type(value).__name__


def describe_error(err: ErrorDetails, model_name: str) -> tuple[str | None, str]:
    """The field (dotted path) and a how-to-fix message for one pydantic error."""
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    path = _path(err["loc"])
    value = err.get("input")
    if kind == _RULE:
        return str(ctx["field"]), str(ctx["message"])
    field = path or None
    name = path or model_name
    if kind == _FIELD:
        return field, f"{name} {ctx['predicate']}"
    if kind == "missing":
        return field, f"{name} is required by {model_name}"
    if kind == "extra_forbidden":
        leaf = str(err["loc"][-1]) if err["loc"] else name
        hint = _FIELD_HINTS.get(leaf)
        text = f"{name} is not a field of {model_name} (check the spelling"
        return field, f"{text}; {hint})" if hint else f"{text})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return field, (
            f"{name} must be an int (a whole number; IDs are never bool, float or str), "
            f"got {_type_name(value)} {_short(value)}"
        )
    if kind == "string_type":
        return field, f"{name} must be a str, got {_type_name(value)} {_short(value)}"
    if kind == "bool_type":
        return field, f"{name} must be True or False, got {_type_name(value)} {_short(value)}"
    if kind == "list_type":
        return field, f"{name} must be a list, got {_type_name(value)} {_short(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return (
            field,
            f"{name} must be a dict of fields or a model instance, got {_type_name(value)}",
        )
    return field, f"{name}: {err['msg']}"


def build(model_cls: type[RequestT], /, **fields: Any) -> RequestT:
    """Construct a request model, reporting bad input as one readable error.

    Args:
        model_cls: the request model class, e.g. ``ModifyRequest``.
        **fields: the model's fields (the API's field names).

    Returns:
        The validated, frozen request model.

    Raises:
        RequestValidationError: the first problem found, naming the field (``.field``, a
            dotted path such as ``image_references[1].ref_name``) and how to fix it. The
            pydantic ``ValidationError`` is kept as ``__cause__``.
    """
    try:
        return model_cls(**fields)
    except ValidationError as exc:
        field, message = describe_error(exc.errors()[0], model_cls.__name__)
        raise RequestValidationError(message, field=field) from exc
