"""Risk questionnaires as data: validating, loading new versions, and finding the one in use.

A definition is a JSON object::

    {
      "key": "dash-ric",                  # stable key: lower-case letters, digits and hyphens
      "version": 1,                       # a whole number, higher than any version of the key already loaded
      "name": "Domestic abuse risk checklist",
      "scale": "yes_no",                  # "yes_no" or "frequency"
      "options": [                        # the answers offered for every question, in display order
        {"value": "yes", "label": "Yes", "points": 1},
        {"value": "no", "label": "No", "points": 0}
      ],
      "questions": [                      # in display order; keys unique within the definition
        {
          "key": "strangulation",
          "text": "Has the abuser ever strangled ...?",
          "hint": "Shown under the question (optional)",
          "prompt": "strangulation",      # optional: one of PROMPT_TAGS, see marac.cases.risk.prompts
          "free_text": true               # optional: the question also takes a sealed free-text answer (at most one)
        }
      ],
      "grading": {"medium_from": 12, "high_from": 20, "marac_from": 20}   # optional, see below
    }

The score is the sum of the points of the options chosen: on a "yes_no" scale points are 0 or 1, so the score is
the number of "yes" answers; on a "frequency" scale (never ... all the time) points rise with frequency.
Without "grading" a score is graded with the area's thresholds (which are set for the DASH checklist); a
questionnaire on another scale carries its own thresholds in "grading" so that its score is not read as a DASH score.

Loading never edits a version in use: it adds a new row, makes it the active one for new assessments, and leaves
earlier versions in place for the assessments already made with them.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from marac import audit, db
from marac.cases.models import Questionnaire

SCALES = ("yes_no", "frequency")
PROMPT_TAGS = ("strangulation", "stalking", "threats_to_kill", "separation", "coercive_control", "violence")
BUILTIN_FILES = ("dash-ric.json", "dara-frequency.json")
GRADING_KEYS = ("medium_from", "high_from", "marac_from")

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_TOP_REQUIRED = ("key", "version", "name", "scale", "options", "questions")
_TOP_ALLOWED = {*_TOP_REQUIRED, "grading", "description"}
_QUESTION_ALLOWED = {"key", "text", "hint", "prompt", "free_text"}
_OPTION_ALLOWED = {"value", "label", "points"}


class QuestionnaireError(ValueError):
    """A questionnaire definition that cannot be loaded; the message lists every problem."""


def validate_definition(data: Any) -> None:
    """Raise QuestionnaireError naming every problem in a definition (nothing when it is sound)."""
    if not isinstance(data, dict):
        raise QuestionnaireError("The definition must be a JSON object")
    problems = _top_problems(data)
    if isinstance(data.get("options"), list):
        problems += _option_problems(data["options"], data.get("scale"))
    if isinstance(data.get("questions"), list):
        problems += _question_problems(data["questions"])
    if "grading" in data:
        problems += _grading_problems(data["grading"])
    if problems:
        raise QuestionnaireError("; ".join(problems))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _top_problems(data: dict[str, Any]) -> list[str]:
    problems = [f"missing key {name!r}" for name in _TOP_REQUIRED if name not in data]
    if unknown := sorted(set(data) - _TOP_ALLOWED):
        problems.append(f"unknown keys: {', '.join(unknown)}")
    if "key" in data and not (isinstance(data["key"], str) and _KEY.match(data["key"])):
        problems.append("'key' must be lower-case letters, digits, '-' or '_' (at most 40)")
    if "version" in data and not (_is_int(data["version"]) and data["version"] >= 1):
        problems.append("'version' must be a whole number of 1 or more")
    if "name" in data and not (isinstance(data["name"], str) and 0 < len(data["name"].strip()) <= 120):
        problems.append("'name' must be text of 1 to 120 characters")
    if "scale" in data and data["scale"] not in SCALES:
        problems.append(f"unknown scale {data['scale']!r}: use one of {', '.join(SCALES)}")
    for name in ("options", "questions"):
        if name in data and not (isinstance(data[name], list) and data[name]):
            problems.append(f"'{name}' must be a non-empty list")
    return problems


def _option_problems(options: list[Any], scale: Any) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for number, option in enumerate(options, start=1):
        if not isinstance(option, dict):
            problems.append(f"option {number} must be an object")
            continue
        value = option.get("value")
        name = f"option {value!r}" if isinstance(value, str) and value else f"option {number}"
        if not (isinstance(value, str) and _KEY.match(value)):
            problems.append(f"{name} needs a 'value' of lower-case letters, digits, '-' or '_'")
        elif value in seen:
            problems.append(f"duplicate option value {value!r}")
        else:
            seen.add(value)
        if not (isinstance(option.get("label"), str) and option["label"].strip()):
            problems.append(f"{name} needs a 'label'")
        if "points" not in option:
            problems.append(f"{name} has no 'points'")
        elif not (_is_int(option["points"]) and option["points"] >= 0):
            problems.append(f"{name} 'points' must be a whole number of 0 or more")
        elif scale == "yes_no" and option["points"] not in (0, 1):
            problems.append(f"{name}: on a yes_no scale points are 0 or 1")
        if unknown := sorted(set(option) - _OPTION_ALLOWED):
            problems.append(f"{name} has unknown keys: {', '.join(unknown)}")
    return problems


def _question_problems(questions: list[Any]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for number, question in enumerate(questions, start=1):
        if not isinstance(question, dict):
            problems.append(f"question {number} must be an object")
            continue
        key = question.get("key")
        name = f"question {key!r}" if isinstance(key, str) and key else f"question {number}"
        if not (isinstance(key, str) and _KEY.match(key)):
            problems.append(f"{name} needs a 'key' of lower-case letters, digits, '-' or '_'")
        elif key in seen:
            problems.append(f"duplicate question key {key!r}")
        else:
            seen.add(key)
        if not (isinstance(question.get("text"), str) and question["text"].strip()):
            problems.append(f"{name} needs a 'text'")
        if "hint" in question and not isinstance(question["hint"], str):
            problems.append(f"{name} 'hint' must be text")
        if "prompt" in question and question["prompt"] not in PROMPT_TAGS:
            problems.append(f"{name} has unknown prompt {question['prompt']!r}: use one of {', '.join(PROMPT_TAGS)}")
        if "free_text" in question and not isinstance(question["free_text"], bool):
            problems.append(f"{name} 'free_text' must be true or false")
        if unknown := sorted(set(question) - _QUESTION_ALLOWED):
            problems.append(f"{name} has unknown keys: {', '.join(unknown)}")
    if sum(1 for q in questions if isinstance(q, dict) and q.get("free_text") is True) > 1:
        problems.append("at most one question may have 'free_text'")
    return problems


def _grading_problems(grading: Any) -> list[str]:
    if not isinstance(grading, dict) or set(grading) != set(GRADING_KEYS):
        return [f"'grading' must give exactly {', '.join(GRADING_KEYS)}"]
    if not all(_is_int(v) and v >= 0 for v in grading.values()):
        return ["'grading' values must be whole numbers of 0 or more"]
    if grading["medium_from"] > grading["high_from"]:
        return ["'grading' medium_from must not be above high_from"]
    return []


def load_questionnaire(data: dict[str, Any], *, actor: Any = None, session: Session | None = None) -> Questionnaire:
    """Validate a definition and add it as a new version, active for new assessments (earlier versions are kept
    for the assessments made with them); audited with key and version only."""
    session = session or db.session
    questionnaire = _add_version(session, data)
    audit.record(
        "questionnaire.load",
        actor=actor,
        object_type="questionnaire",
        object_id=f"{questionnaire.key}:v{questionnaire.version}",
        details={"key": questionnaire.key, "version": questionnaire.version},
        session=session,
    )
    return questionnaire


def _add_version(session: Session, data: dict[str, Any]) -> Questionnaire:
    validate_definition(data)
    latest = session.scalar(select(func.max(Questionnaire.version)).where(Questionnaire.key == data["key"]))
    if latest is not None and data["version"] <= latest:
        raise QuestionnaireError(
            f"{data['key']} version {latest} is already loaded: give the new definition a version above {latest}"
        )
    session.execute(update(Questionnaire).where(Questionnaire.key == data["key"]).values(is_active=False))
    questionnaire = Questionnaire(
        key=data["key"],
        version=data["version"],
        name=data["name"].strip(),
        scale=data["scale"],
        definition=json.loads(json.dumps(data)),  # a plain copy: later changes to `data` do not reach the row
        is_active=True,
    )
    session.add(questionnaire)
    session.flush()
    return questionnaire


def builtin_definitions() -> list[dict[str, Any]]:
    """The definitions shipped in marac/data/questionnaires/."""
    folder = resources.files("marac.data").joinpath("questionnaires")
    return [json.loads(folder.joinpath(name).read_text(encoding="utf-8")) for name in BUILTIN_FILES]


def ensure_builtin_questionnaires(session: Session) -> list[Questionnaire]:
    """Load each shipped definition unless that version (or a later one of its key) is already there; returns what
    was added. Idempotent. Not audited: like the first data keys it is part of setting up the database, and may
    run before there is an application to audit with."""
    added = []
    for data in builtin_definitions():
        latest = session.scalar(select(func.max(Questionnaire.version)).where(Questionnaire.key == data["key"]))
        if latest is None or latest < data["version"]:
            added.append(_add_version(session, data))
    return added


def active_questionnaire(key: str) -> Questionnaire | None:
    """The version of `key` that new assessments use (None when none is loaded)."""
    return db.session.scalar(
        select(Questionnaire)
        .where(Questionnaire.key == key, Questionnaire.is_active.is_(True))
        .order_by(Questionnaire.version.desc())
        .limit(1)
    )


def list_questionnaires() -> list[Questionnaire]:
    """Every loaded version, by key then newest first."""
    return list(db.session.scalars(select(Questionnaire).order_by(Questionnaire.key, Questionnaire.version.desc())))


def questions_of(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions of a definition, in order."""
    return list(definition["questions"])


def option_points(definition: dict[str, Any]) -> dict[str, int]:
    """Points by option value."""
    return {option["value"]: int(option["points"]) for option in definition["options"]}
