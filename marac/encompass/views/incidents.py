"""Operation Encompass pages for police: record an incident and its children, import incidents from CSV, the
force's recent incidents and one incident; and the queue of notifications whose setting must be named."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import Field

from marac import audit, db
from marac.access import Permission, can_correct_incident, can_monitor, can_record_incidents, require
from marac.encompass.forms_corrections import CorrectionForm, RedirectForm
from marac.encompass.forms_incidents import ImportForm, IncidentForm, ResolveForm
from marac.encompass.models import PoliceIncident
from marac.encompass.services import corrections, csv_import, incident_queries, intake, recording, redirects
from marac.encompass.services.delivery import unresolved_reason
from marac.encompass.views.blueprint import bp
from marac.forms import add_error
from marac.web import accepts_upload

Page = str | tuple[str, int] | Response


def _police_only() -> None:
    """Refuse (403, audited) a user whose permission allows recording but who is not at a police force."""
    if not can_record_incidents(current_user):
        audit.record_denial("route.denied", object_type="route", object_id=request.endpoint, reason="not_police")
        abort(403)


def _errors(form: IncidentForm) -> list[dict[str, str]]:
    """The error summary: each field's first message, children's fields included, linked to the field."""
    items = []
    for name in ("police_reference", "occurred_on", "occurred_time", "place", "circumstances"):
        field = form[name]
        if field.errors:
            href = f"#{field.id}-day" if name == "occurred_on" else f"#{field.id}"
            items.append({"text": str(field.errors[0]), "href": href})
    for entry in form.children:
        for field in entry.form:
            if field.errors:
                href = f"#{field.id}-day" if field.short_name == "date_of_birth" else f"#{field.id}"
                items.append({"text": str(field.errors[0]), "href": href})
    return items


def _attach(form: IncidentForm, problems: list[tuple[str, str]]) -> None:
    """Put the service's problems on the form's fields ("children-2-urn" is the second child's URN)."""
    for key, message in problems:
        if key.startswith("children-"):
            _, position, name = key.split("-", 2)
            entries = form.children.entries
            index = int(position) - 1
            target = entries[index].form[name] if index < len(entries) else form.children
        else:
            target = form._fields.get(key, form.police_reference)
        if not target.errors:  # one message per field: the form's own (a date it cannot read) comes first
            add_error(target, message)


def _add_or_remove(form: IncidentForm) -> bool:
    """Handle "Add another child" and "Remove": change the children shown, with no checks. True if handled."""
    removing = request.form.get("remove_child")
    if removing:
        kept = [e for e in form.children.entries if e.name != removing]
        form.children.entries = kept or form.children.entries
        return True
    if form.add_child.data:
        if len(form.children.entries) < intake.MAX_CHILDREN:
            form.children.append_entry()
        return True
    return False


@bp.route("/encompass/incidents/new", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_RECORD)
def new_incident() -> Page:
    """Record a domestic-abuse incident and the children linked to it; each child's setting is told at once."""
    _police_only()
    form = IncidentForm()
    authorities = intake.authority_choices(current_user)
    if request.method == "POST" and _add_or_remove(form):
        form.offer_authorities(authorities)
        return render_template("encompass/incident_new.html", form=form, errors=[])
    form.offer_authorities(authorities)
    status = 200
    if request.method == "POST":
        status = 400
        if not form.validate():
            _attach(form, intake.problems_for(current_user, form.to_input()))
            return render_template("encompass/incident_new.html", form=form, errors=_errors(form)), status
        try:
            result = recording.record_incident(current_user, form.to_input())
        except intake.IntakeError as exc:
            db.session.rollback()
            _attach(form, exc.problems)
        else:
            db.session.commit()
            flash(_summary(result), "success")
            return redirect(url_for("encompass.incident", public_id=result.incident.public_id))
    return render_template("encompass/incident_new.html", form=form, errors=_errors(form)), status


def _summary(result: intake.IntakeResult) -> str:
    """What recording did, in numbers."""
    added = f"{result.added} child{'ren' if result.added != 1 else ''} added"
    if result.already:
        return f"Incident recorded: {added}, {result.already} already recorded."
    return f"Incident recorded: {added}."


@bp.route("/encompass/incidents/import", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_RECORD)
@accepts_upload(csv_import.MAX_BYTES)  # raised before the CSRF check reads the form: a request-time limit is too late
def import_incidents() -> Page:
    """Import incidents from a police system's CSV file: all valid rows, or none, with a report per row."""
    _police_only()
    form = ImportForm()
    if request.method == "GET":
        return render_template("encompass/incident_import.html", form=form, errors=[])
    upload = request.files.get("file")
    content = upload.read(csv_import.MAX_BYTES + 1) if upload is not None else b""
    if not form.validate() or not content:
        if not form.file.errors:
            add_error(form.file, "Select a CSV file")
        errors = [{"text": str(form.file.errors[0]), "href": "#file"}]
        return render_template("encompass/incident_import.html", form=form, errors=errors), 400
    report = csv_import.import_incidents_csv(current_user, content)
    if report.file_errors:
        for message in report.file_errors:
            add_error(form.file, message)
        errors = [{"text": m, "href": "#file"} for m in report.file_errors]
        return render_template("encompass/incident_import.html", form=form, errors=errors), 400
    if report.imported:
        db.session.commit()
        return render_template("encompass/incident_import_report.html", report=report)
    db.session.rollback()
    errors = [
        {"text": f"Row {r.number}: {r.messages[0]}", "href": f"#row-{r.number}"} for r in report.rows if r.messages
    ]
    return render_template("encompass/incident_import_report.html", report=report, errors=errors), 400


@bp.route("/encompass/incidents/import/template.csv")
@require(Permission.ENCOMPASS_RECORD)
def import_template() -> Response:
    """The CSV heading row and a made-up example row, to fill in from a police system."""
    _police_only()
    response = Response(csv_import.template_csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="encompass-incidents-template.csv"'
    return response


@bp.route("/encompass/incidents")
@require(Permission.ENCOMPASS_RECORD)
def incidents() -> str:
    """The force's incidents recorded in the last 30 days, with each notification's status (no child names)."""
    _police_only()
    rows = incident_queries.force_incidents(current_user)
    audit.record("encompass.incident_list", object_type="agency", object_id=current_user.agency.public_id,
                 details={"n": len(rows)})  # fmt: skip
    page = render_template(
        "encompass/incident_list.html",
        rows=rows,
        labels=incident_queries.STATUS_LABELS,
        day=incident_queries.incident_day,
    )
    db.session.commit()
    return page


@bp.route("/encompass/incidents/<pid:public_id>")
@require(Permission.ENCOMPASS_RECORD)
def incident(public_id: str) -> str:
    """One incident with its children and their notifications' statuses, for officers of the recording force."""
    found = incident_queries.load_incident_for(current_user, public_id)
    if found is None:
        audit.record_denial("encompass.incident_view", object_type="encompass_incident", object_id=public_id,
                            reason="not_recording_force")  # fmt: skip
        abort(404)
    notes = incident_queries.notifications_of([found.id])[found.id]
    history = incident_queries.correction_history(found)  # the reasons are read within this audited view
    audit.record("encompass.incident_view", object_type="encompass_incident", object_id=public_id)
    page = render_template(
        "encompass/incident_view.html",
        incident=found,
        notes=notes,
        history=history,
        status_of=incident_queries.notification_status,
        labels=incident_queries.STATUS_LABELS,
        reason=unresolved_reason,
        may_correct=can_correct_incident(current_user, found) and not corrections.is_retained(found),
    )
    db.session.commit()
    return page


def _may_resolve() -> None:
    """Refuse (403, audited) anyone who is neither an officer nor a lead."""
    if not (can_record_incidents(current_user) or can_monitor(current_user)):
        audit.record_denial("route.denied", object_type="route", object_id=request.endpoint, reason="cannot_resolve")
        abort(403)


@bp.route("/encompass/unresolved")
@require(Permission.ENCOMPASS_RECORD)
def unresolved() -> str:
    """Notifications whose setting must be named before they can be sent, most overdue first."""
    _may_resolve()
    rows = incident_queries.unresolved_for(current_user)
    audit.record("encompass.unresolved_list", object_type="encompass_notification", details={"n": len(rows)})
    page = render_template("encompass/unresolved_list.html", rows=rows, day=incident_queries.incident_day)
    db.session.commit()
    return page


@bp.route("/encompass/unresolved/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_RECORD)
def resolve(public_id: str) -> Page:
    """Name the setting of a child whose notification is unresolved; it is sent at once."""
    notification = incident_queries.load_unresolved_for(current_user, public_id)
    if notification is None:
        audit.record_denial("encompass.resolve", object_type="encompass_notification", object_id=public_id,
                            reason="cannot_resolve")  # fmt: skip
        abort(404)
    form = ResolveForm()
    if request.method == "POST" and form.validate():
        try:
            redirects.resolve_notification(current_user, notification, form.urn.data or "")
        except intake.IntakeError as exc:
            db.session.rollback()
            for _key, message in exc.problems:
                add_error(form.urn, message)
        else:
            db.session.commit()
            flash("Setting named: the notification has been sent.", "success")
            return redirect(url_for("encompass.unresolved"))
    audit.record("encompass.unresolved_view", object_type="encompass_notification", object_id=public_id)
    row = incident_queries.unresolved_row(notification)
    errors = [{"text": str(form.urn.errors[0]), "href": "#urn"}] if form.urn.errors else []
    page = render_template("encompass/unresolved_resolve.html", form=form, row=row, errors=errors)
    db.session.commit()
    return page, 400 if request.method == "POST" else 200


# --- correcting a recorded incident ---------------------------------------------------------------------------------


def _correctable(public_id: str, action: str) -> PoliceIncident:
    """The incident if the user may correct it (officers of the recording force see it; its recording officer and
    the force's leads correct it); 404 and an audited denial otherwise."""
    found = incident_queries.load_incident_for(current_user, public_id)
    if found is None or not can_correct_incident(current_user, found):
        audit.record_denial(action, object_type="encompass_incident", object_id=public_id, reason="cannot_correct")
        abort(404)
    return found


def _correction_field(form: CorrectionForm, key: str) -> Field | None:
    """The form field a service problem is about ("children-2-date_of_birth" is the second child's)."""
    if key in ("place", "circumstances", "reason"):
        return form[key]
    if not key.startswith("children-"):
        return None
    _, position, name = key.split("-", 2)
    entries, index = form.children.entries, int(position) - 1 if position.isdecimal() else -1
    return entries[index].form[name] if 0 <= index < len(entries) and name in entries[index].form else None


def _correction_errors(form: CorrectionForm, problems: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Put the problems on their fields (the form's own message first) and list them for the error summary."""
    general = []
    for key, message in problems:
        target = _correction_field(form, key)
        if target is None:
            general.append({"text": message, "href": "#place"})
        elif not target.errors:
            add_error(target, message)
    fields = [form.place, form.circumstances, *(f for entry in form.children for f in entry.form), form.reason]
    listed = [
        {"text": str(f.errors[0]), "href": f"#{f.id}-day" if f.short_name == "date_of_birth" else f"#{f.id}"}
        for f in fields
        if f.errors
    ]
    return general + listed


def _correction_page(
    incident: PoliceIncident, form: CorrectionForm, errors: list[dict[str, str]], moving: dict[str, str] | None = None
) -> tuple[str, int]:
    """The correction page (audited as a view of the incident); 400 when it shows problems."""
    audit.record("encompass.incident_view", object_type="encompass_incident", object_id=incident.public_id,
                 details={"page": "correct"})  # fmt: skip
    notes = incident_queries.notifications_of([incident.id])[incident.id]
    page = render_template(
        "encompass/incident_correct.html",
        incident=incident,
        form=form,
        errors=errors,
        children={c.public_id: c for c in corrections.children_of(incident)},
        notes=notes,
        retained=corrections.is_retained(incident),
        redirect_form=RedirectForm(formdata=None),
        moving=moving or {},
        reason=unresolved_reason,
        max_reason=corrections.MAX_REASON,
    )
    db.session.commit()
    return page, 400 if errors else 200


@bp.route("/encompass/incidents/<pid:public_id>/correct", methods=["GET", "POST"])
@require(Permission.SIGNED_IN)  # who may is decided per incident (can_correct_incident): anyone else gets 404
def correct_incident(public_id: str) -> Page:
    """Correct a recorded incident's place and circumstances and its children as the police gave them, with the
    reason; key adults who already read a changed notification are told to read it again."""
    found = _correctable(public_id, "encompass.incident_correct")
    if request.method == "GET":
        return _correction_page(found, CorrectionForm.filled_from(corrections.current_details(found)), [])
    form = CorrectionForm()
    if corrections.is_retained(found):
        return _correction_page(found, form, [{"text": corrections.RETAINED, "href": "#retained"}])
    if not form.validate():
        problems = corrections.check_correction(found, form.to_input())
        expired = [{"text": "The page expired: make the correction again", "href": "#place"}]
        return _correction_page(found, form, _correction_errors(form, problems) or expired)
    try:
        corrections.correct_incident(current_user, found, form.to_input())
    except intake.IntakeError as exc:
        db.session.rollback()
        return _correction_page(found, form, _correction_errors(form, exc.problems))
    db.session.commit()
    flash("Incident corrected. Key adults who had already received a changed notification have been told to read "
          "it again.", "success")  # fmt: skip
    return redirect(url_for("encompass.incident", public_id=public_id))


def _redirect_refused(
    incident: PoliceIncident, public_id: str, form: RedirectForm, problems: list[tuple[str, str]]
) -> tuple[str, int]:
    """The correction page again (400) with the moving notification's URN and reason as typed and their messages."""
    messages = {key if key == "reason" else "urn": message for key, message in reversed(problems)}  # first wins
    moving = {
        "id": public_id,
        "urn": (form.urn.data or "")[:12],
        "reason": (form.reason.data or "")[: corrections.MAX_REASON],
        "error": messages.get("urn", ""),
        "reason_error": messages.get("reason", ""),
    }
    errors = [{"text": messages[key], "href": f"#{key}-{public_id}"} for key in ("urn", "reason") if key in messages]
    details = CorrectionForm.filled_from(corrections.current_details(incident))
    page, _status = _correction_page(incident, details, errors, moving)
    return page, 400


@bp.route("/encompass/notifications/<pid:public_id>/redirect", methods=["POST"])
@require(Permission.SIGNED_IN)  # who may is decided per incident (can_correct_incident): anyone else gets 404
def redirect_to_setting(public_id: str) -> Page:
    """Move a notification sent to the wrong setting to the child's right one: it is sent there at once and the
    setting told in error loses it."""
    note = redirects.notification_by_id(public_id)
    incident = note.child.incident if note is not None else None
    if note is None or incident is None or not can_correct_incident(current_user, incident):
        audit.record_denial("encompass.redirect", object_type="encompass_notification", object_id=public_id,
                            reason="cannot_correct")  # fmt: skip
        abort(404)
    form = RedirectForm()
    try:
        if not form.validate():
            raise intake.IntakeError([("urn", "The page expired: enter the setting's URN again")])
        redirects.redirect_notification(current_user, note, form.urn.data or "", form.reason.data or "")
    except intake.IntakeError as exc:
        db.session.rollback()
        return _redirect_refused(incident, public_id, form, exc.problems)
    db.session.commit()
    late = " It was sent late: its due time had passed." if note.is_late else ""
    flash(f"Notification moved to {note.setting.name if note.setting else 'the right setting'} and sent to its key "
          f"adult.{late}", "success")  # fmt: skip
    return redirect(url_for("encompass.incident", public_id=incident.public_id))
