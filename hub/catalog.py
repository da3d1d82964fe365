"""The service catalog: every démarche the city offers, declared as data.

Forms in the counter app, the kiosk and the HTTP API are generated from these
definitions, and :meth:`Service.clean` is the one place form input is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .errors import FieldError, FormErrors, Invalid, NotFound

POLICIES = ("full", "deferred", "unavailable")
FIELD_TYPES = ("text", "integer", "boolean", "date", "choice", "slot", "location", "parcel")

_PARCEL = re.compile(r"^(?:(?P<prefix>\d{3})\s*)?(?P<section>[A-Z0-9]{1,2})\s*(?P<number>\d{1,4})$")
_LATLONG = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def _err(key: str, en: str, fr: str) -> FieldError:
    return FieldError(key, en, fr)


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: dict[str, str]
    required: bool
    spec: dict[str, Any]

    def clean(self, raw: Any, today: dt.date) -> Any:
        """The stored value for one input, or FieldError. Strings are what forms
        and the CLI send; typed JSON values (int, bool, dict) are also taken."""
        kind = self.type
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            if self.required:
                raise _err(self.key, "is required", "est obligatoire")
            return None
        return getattr(self, f"_clean_{kind}")(raw, today)

    def _clean_text(self, raw: Any, today: dt.date) -> str:
        if not isinstance(raw, str):
            raise _err(self.key, "must be text", "doit être du texte")
        limit = self.spec.get("max_length", 1000)
        if len(raw) > limit:
            raise _err(self.key, f"is longer than {limit} characters", f"dépasse {limit} caractères")
        if any(ord(c) < 32 and c not in "\n\t" for c in raw):
            raise _err(self.key, "contains control characters", "contient des caractères de contrôle")
        pattern = self.spec.get("pattern")
        if pattern and not re.fullmatch(pattern, raw.upper() if self.spec.get("upper", True) else raw):
            raise _err(self.key, f"does not have the expected format ({self.label['en']})",
                       f"n'a pas le format attendu ({self.label['fr']})")
        return raw.upper() if pattern else raw

    def _clean_integer(self, raw: Any, today: dt.date) -> int:
        if isinstance(raw, bool):
            raise _err(self.key, "must be a whole number", "doit être un nombre entier")
        if isinstance(raw, str) and re.fullmatch(r"[+-]?\d{1,12}", raw):
            raw = int(raw)
        if not isinstance(raw, int):
            raise _err(self.key, "must be a whole number", "doit être un nombre entier")
        lo, hi = self.spec.get("min"), self.spec.get("max")
        if lo is not None and raw < lo or hi is not None and raw > hi:
            raise _err(self.key, f"must be between {lo} and {hi}", f"doit être compris entre {lo} et {hi}")
        return raw

    def _clean_boolean(self, raw: Any, today: dt.date) -> bool:
        if isinstance(raw, bool):
            return raw
        value = str(raw).lower()
        if value in ("1", "true", "yes", "oui", "o", "y"):
            return True
        if value in ("0", "false", "no", "non", "n"):
            return False
        raise _err(self.key, "must be yes or no", "doit être oui ou non")

    def _clean_date(self, raw: Any, today: dt.date) -> str:
        day = parse_date(raw)
        if day is None:
            raise _err(self.key, "must be a date as YYYY-MM-DD or DD/MM/YYYY",
                       "doit être une date au format JJ/MM/AAAA ou AAAA-MM-JJ")
        if self.spec.get("past") and day > today:
            raise _err(self.key, "cannot be in the future", "ne peut pas être dans le futur")
        if day.year < 1850:
            raise _err(self.key, "is too far in the past", "est trop ancienne")
        age = (today - day).days // 365.25
        lo, hi = self.spec.get("min_age_years"), self.spec.get("max_age_years")
        if lo is not None and age < lo or hi is not None and age > hi:
            raise _err(self.key, f"the age must be between {lo} and {hi} years",
                       f"l'âge doit être compris entre {lo} et {hi} ans")
        return day.isoformat()

    def _clean_choice(self, raw: Any, today: dt.date) -> str:
        choices = self.spec["choices"]
        if not isinstance(raw, str) or raw not in choices:  # an object or list is no key (and may not hash)
            raise _err(self.key, f"must be one of: {', '.join(choices)}", f"doit être l'une de : {', '.join(choices)}")
        return str(raw)

    def _clean_slot(self, raw: Any, today: dt.date) -> dict[str, str]:
        if isinstance(raw, dict):
            date_text, period = raw.get("date", ""), raw.get("period", "")
        else:
            date_text, _, period = str(raw).partition(" ")
        periods = self.spec.get("periods", ["matin", "apres-midi"])
        day = parse_date(date_text) if isinstance(date_text, str) else None
        if day is None or not isinstance(period, str) or period.strip() not in periods:
            raise _err(self.key, f"must be a date and one of {', '.join(periods)}, e.g. {today + dt.timedelta(days=7)} {periods[0]}",
                       f"doit être une date suivie de {', '.join(periods)}, ex. {(today + dt.timedelta(days=7)).strftime('%d/%m/%Y')} {periods[0]}")
        ahead = (day - today).days
        lo, hi = self.spec.get("min_days_ahead", 0), self.spec.get("max_days_ahead", 365)
        if not lo <= ahead <= hi:
            raise _err(self.key, f"must be between {lo} and {hi} days from today",
                       f"doit être entre {lo} et {hi} jours à partir d'aujourd'hui")
        if day.isoweekday() not in self.spec.get("weekdays", range(1, 8)):
            raise _err(self.key, "falls on a day without collection (weekdays only)",
                       "tombe un jour sans collecte (du lundi au vendredi)")
        return {"date": day.isoformat(), "period": period.strip()}

    def _clean_location(self, raw: Any, today: dt.date) -> dict[str, Any]:
        if isinstance(raw, dict):
            if "lat" in raw or "long" in raw:
                return self._coordinates(raw.get("lat"), raw.get("long"))
            raw = raw.get("address", "")
        if not isinstance(raw, str):
            raise _err(self.key, "give an address (5 to 200 characters) or latitude,longitude",
                       "indiquez une adresse (5 à 200 caractères) ou latitude,longitude")
        match = _LATLONG.match(raw)
        if match:
            return self._coordinates(float(match.group(1)), float(match.group(2)))
        text = raw
        if len(text) < 5 or len(text) > 200 or not any(c.isalpha() for c in text):
            raise _err(self.key, "give an address (5 to 200 characters) or latitude,longitude",
                       "indiquez une adresse (5 à 200 caractères) ou latitude,longitude")
        return {"address": text}

    def _coordinates(self, lat: Any, long: Any) -> dict[str, Any]:
        """Numbers stay numbers: a bool is not a degree, and nothing is turned
        into an address on the way."""
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, long)):
            raise _err(self.key, "latitude and longitude must both be numbers in decimal degrees",
                       "la latitude et la longitude doivent être deux nombres en degrés décimaux")
        if not (-90 <= lat <= 90 and -180 <= long <= 180):
            raise _err(self.key, "latitude must be within ±90 and longitude within ±180",
                       "la latitude doit être comprise entre -90 et 90, la longitude entre -180 et 180")
        return {"lat": float(lat), "long": float(long)}

    def _clean_parcel(self, raw: Any, today: dt.date) -> str:
        match = _PARCEL.match(str(raw).upper())
        if not match:
            raise _err(self.key, "must be a cadastral section and number, e.g. AB 0123",
                       "doit être une section et un numéro cadastraux, ex. AB 0123")
        prefix = match.group("prefix")
        ref = f"{match.group('section'):0>2} {int(match.group('number')):04d}"
        return f"{prefix} {ref}" if prefix else ref

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.type, "label": self.label, "required": self.required,
                **{k: v for k, v in self.spec.items() if k not in ("key", "type", "label", "required")}}


def parse_date(text: Any) -> dt.date | None:
    text = str(text).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Service:
    code: str
    family: str
    names: dict[str, str]
    description: dict[str, str]
    fields: tuple[Field, ...]
    documents: tuple[dict[str, Any], ...]
    fee: dict[str, Any]
    policy: str
    initial: str
    transitions: dict[str, tuple[str, ...]]
    kiosk: bool
    open311: dict[str, Any] | None

    def clean(self, raw: dict[str, Any], today: dt.date | None = None) -> dict[str, Any]:
        """Validated, normalised form data; FormErrors lists every bad field."""
        today = today or dt.date.today()
        known = {f.key for f in self.fields}
        errors = [_err(k, "is not a field of this service", "n'est pas un champ de cette démarche")
                  for k in raw if k not in known]
        cleaned: dict[str, Any] = {}
        for field in self.fields:
            try:
                value = field.clean(raw.get(field.key), today)
            except FieldError as exc:
                errors.append(exc)
                continue
            if value is not None:
                cleaned[field.key] = value
        if errors:
            raise FormErrors(errors)
        return cleaned

    def fee_cents(self, fields: dict[str, Any]) -> int:
        if self.fee["kind"] == "field":
            return int(fields.get(self.fee["field"], 0))
        return int(self.fee["amount_cents"])

    def can_move(self, current: str, target: str) -> bool:
        return target in self.transitions.get(current, ())

    def is_final(self, status: str) -> bool:
        return not self.transitions.get(status)

    def describe(self) -> dict[str, Any]:
        return {
            "code": self.code, "family": self.family, "names": self.names, "description": self.description,
            "fields": [f.describe() for f in self.fields], "documents": list(self.documents), "fee": self.fee,
            "policy": self.policy, "kiosk": self.kiosk,
            "workflow": {"initial": self.initial, "transitions": {k: list(v) for k, v in self.transitions.items()}},
        }


class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.families: dict[str, dict[str, str]] = data["families"]
        self.statuses: dict[str, dict[str, str]] = data["statuses"]
        self.services: dict[str, Service] = {}
        for entry in data["services"]:
            service = _load_service(entry)
            if service.family not in self.families:
                raise ValueError(f"service {service.code}: unknown family {service.family}")
            for status in service.transitions:
                if status not in self.statuses:
                    raise ValueError(f"service {service.code}: status {status} has no label")
            self.services[service.code] = service

    def get(self, code: str) -> Service:
        try:
            return self.services[code]
        except KeyError:
            raise NotFound(f"unknown service {code!r}; `beffroi services` lists them",
                           f"démarche inconnue {code!r} ; `beffroi services` les liste", "unknown_service") from None

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services.values())

    def status_label(self, status: str, lang: str = "fr") -> str:
        return self.statuses.get(status, {}).get(lang, status)


def _load_service(entry: dict[str, Any]) -> Service:
    if entry["policy"] not in POLICIES:
        raise ValueError(f"service {entry['code']}: policy must be one of {POLICIES}")
    fields = []
    for spec in entry["fields"]:
        if spec["type"] not in FIELD_TYPES:
            raise ValueError(f"service {entry['code']}: field {spec['key']} has unknown type {spec['type']}")
        fields.append(Field(spec["key"], spec["type"], spec["label"], bool(spec.get("required")), spec))
    workflow = entry["workflow"]
    transitions = {k: tuple(v) for k, v in workflow["transitions"].items()}
    for source, targets in transitions.items():
        for target in targets:
            if target not in transitions:
                raise ValueError(f"service {entry['code']}: {source} → {target} leads to an undeclared status")
    if workflow["initial"] not in transitions:
        raise Invalid(f"service {entry['code']}: initial status is not in the workflow")
    return Service(entry["code"], entry["family"], entry["names"], entry["description"], tuple(fields),
                   tuple(entry["documents"]), entry["fee"], entry["policy"], workflow["initial"], transitions,
                   bool(entry.get("kiosk")), entry.get("open311"))


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with the package."""
    text = resources.files("hub").joinpath("catalog.json").read_text("utf-8")
    return Catalog(json.loads(text))
