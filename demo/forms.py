"""Server-side validation for the demo forms.

The rules mirror the HTML constraints (required, type, pattern, min/max,
minlength), so a value the browser accepts is accepted here too and a form
filler that ignores the constraints gets a 400 with visible errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
PHONE_PATTERN = "[0-9]{3}-[0-9]{4}"
TOPICS: dict[str, str] = {
    "order": "An existing order",
    "returns": "Returns and exchanges",
    "product": "A product question",
    "other": "Something else",
}
CONTACT_METHODS: dict[str, str] = {"email": "Email", "phone": "Phone"}
FREQUENCIES: dict[str, str] = {"weekly": "Weekly", "monthly": "Monthly"}
INTERESTS: dict[str, str] = {"hiking": "Hiking", "climbing": "Climbing", "camping": "Camping"}
MESSAGE_MIN = 20
MESSAGE_MAX = 1000
ORDER_MIN = 1000
ORDER_MAX = 9999


def _required(form: Mapping[str, str], field: str, label: str, errors: list[str]) -> str:
    """Return the stripped value, noting an error when it is blank."""
    value = form.get(field, "").strip()
    if not value:
        errors.append(f"{label} is required.")
    return value


def _check_email(value: str, errors: list[str]) -> None:
    if value and not EMAIL_RE.fullmatch(value):
        errors.append("Email must be a valid email address.")


def _check_choice(value: str, choices: Mapping[str, str], label: str, errors: list[str]) -> None:
    if value and value not in choices:
        errors.append(f"{label} must be one of: {', '.join(choices.values())}.")


def validate_contact(form: Mapping[str, str]) -> list[str]:
    """Check a contact-form submission; an empty list means it is valid."""
    errors: list[str] = []
    _required(form, "name", "Name", errors)
    _check_email(_required(form, "email", "Email", errors), errors)
    phone = _required(form, "phone", "Phone", errors)
    if phone and not re.fullmatch(PHONE_PATTERN, phone):
        errors.append("Phone must look like 555-0123.")
    order = form.get("order", "").strip()
    if order:
        try:
            number = float(order)
        except ValueError:
            number = float("nan")
        if not (number.is_integer() and ORDER_MIN <= number <= ORDER_MAX):
            errors.append(f"Order number must be a whole number from {ORDER_MIN} to {ORDER_MAX}.")
    website = form.get("website", "").strip()
    if website:
        parts = urlsplit(website)
        if not parts.scheme or not (parts.netloc or parts.path):
            errors.append("Website must be a full URL, such as https://example.com.")
    _check_choice(_required(form, "topic", "Topic", errors), TOPICS, "Topic", errors)
    message = form.get("message", "")
    if not message.strip():
        errors.append("Message is required.")
    elif not MESSAGE_MIN <= len(message) <= MESSAGE_MAX:
        errors.append(f"Message must be {MESSAGE_MIN} to {MESSAGE_MAX} characters long.")
    method = _required(form, "contact_method", "Preferred contact method", errors)
    _check_choice(method, CONTACT_METHODS, "Preferred contact method", errors)
    if not form.get("consent"):
        errors.append("Please agree to be contacted about your message.")
    return errors


def validate_newsletter(form: Mapping[str, str]) -> list[str]:
    """Check a newsletter signup; an empty list means it is valid."""
    errors: list[str] = []
    _required(form, "name", "Name", errors)
    _check_email(_required(form, "email", "Email", errors), errors)
    frequency = _required(form, "frequency", "Frequency", errors)
    _check_choice(frequency, FREQUENCIES, "Frequency", errors)
    _check_choice(form.get("interest", ""), INTERESTS, "Interest", errors)
    if not form.get("consent"):
        errors.append("Please agree to receive the newsletter.")
    return errors
