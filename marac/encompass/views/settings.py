"""Operation Encompass pages for leads: settings, their key adults and term calendars, and local-authority
arrangements (routes are registered on the package's blueprint). Leads reach only the local authorities they
manage; anything else answers 404 and is audited as a denial."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import Permission, require
from marac.encompass.forms_settings import (
    NATION_LABELS,
    AuthorityForm,
    BriefingForm,
    ButtonForm,
    CalendarImportForm,
    ClosureForm,
    KeyAdultForm,
    SettingForm,
)
from marac.encompass.models import PARENT_CONTACT_LABELS, SETTING_KIND_LABELS, KeyAdult
from marac.encompass.services import calendar_import as calendars
from marac.encompass.services import settings as services
from marac.encompass.services.settings import NEW_AGENCY, SettingData, SettingError
from marac.encompass.views.blueprint import bp
from marac.forms import add_error, error_list, is_small_id
from marac.orgs.models import Agency
from marac.web import accepts_upload

Page = str | tuple[str, int] | Response

#: Form messages for the closure checks (the service words them for CSV rows).
CLOSURE_MESSAGES = {
    "ends_on is before starts_on": "The last day closed must be on or after the first day closed",
    "a training day ends on the day it starts": "A training day is one day: leave the last day blank",
    "ends_on is missing": "Enter the last day closed",
    "dates must be within 2 years of today": "Dates must be within 2 years of today",
    "kind must be holiday or training_day": "Select holiday or training day",
}


def _setting_or_404(public_id: str) -> Any:
    """The setting if the current user manages its local authority; 404 (audited) otherwise."""
    setting = services.load_setting_for(current_user, public_id)
    if setting is None:
        audit.record_denial(
            "encompass.setting_view", object_type="education_setting", object_id=public_id, reason="not_managed"
        )
        db.session.commit()
        abort(404)
    return setting


def _status() -> int:
    return 400 if request.method == "POST" else 200


# --- settings ---------------------------------------------------------------------------------------------------


@bp.route("/encompass/settings")
@require(Permission.ENCOMPASS_SETTINGS)
def settings() -> str:
    """Settings of the local authorities the user manages, optionally one authority's."""
    authorities = services.local_authorities_for(current_user)
    chosen = next((a for a in authorities if a.public_id == request.args.get("authority")), None)
    rows = services.settings_in_scope(current_user, db.london_today(), chosen.id if chosen else None)
    return render_template(
        "encompass/settings_list.html",
        rows=rows,
        authorities=authorities,
        chosen=chosen,
        kinds={k.value: v for k, v in SETTING_KIND_LABELS.items()},
        nations=NATION_LABELS,
    )


def _setting_form(setting: Any, bound: bool = True) -> SettingForm:
    """The setting form with its choices; unbound (showing what is saved) when another form on the page was sent."""
    form = SettingForm(obj=setting, **({} if bound else {"formdata": None}))
    form.local_authority.choices = [("", "Select a local authority")] + [
        (a.public_id, a.name) for a in services.local_authorities_for(current_user)
    ]
    form.agency.choices = [("", "Select an agency"), (NEW_AGENCY, "Create an agency with the setting's name")] + [
        (a.public_id, a.name) for a in services.education_agency_choices(setting)
    ]
    if (request.method == "GET" or not bound) and setting is not None:
        form.local_authority.data = setting.local_authority.public_id
        form.agency.data = setting.agency.public_id if setting.agency else ""
        form.day_start.data = setting.day_start.strftime("%H:%M")
    return form


def _data(form: SettingForm) -> SettingData:
    return SettingData(
        urn=form.urn.data or "",
        name=form.name.data or "",
        kind=form.kind.data or "",
        local_authority_id=form.local_authority.data or "",
        nation=form.nation.data or "",
        day_start=form.day_start.data or "",
        parent_contact=form.parent_contact.data or "",
        agency=form.agency.data or "",
        is_active=bool(form.is_active.data),
    )


def _save_setting(form: SettingForm, setting: Any) -> Response | None:
    """Validate and save; the redirect on success, None (errors on the form) on refusal."""
    if not form.validate_on_submit():
        return None
    try:
        saved = services.save_setting(current_user, _data(form), setting)
    except SettingError as exc:
        db.session.rollback()
        add_error(getattr(form, exc.field, form.urn), str(exc))
        return None
    db.session.commit()
    flash("Setting saved.", "success")
    return redirect(url_for("encompass.setting", public_id=saved.public_id))


@bp.route("/encompass/settings/new", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def new_setting() -> Page:
    """Add a setting in a local authority the user manages."""
    form = _setting_form(None)
    done = _save_setting(form, None)
    if done is not None:
        return done
    return render_template("encompass/settings_form.html", form=form, setting=None, errors=error_list(form)), _status()


def _setting_page(setting: Any, form: SettingForm, key_form: KeyAdultForm, status: int = 200) -> tuple[str, int]:
    key_form.key_adult.choices = [("", "Select a person")] + [
        (u.public_id, u.display_name) for u in services.agency_staff(setting)
    ]
    errors = error_list(form) + error_list(key_form)
    page = render_template(
        "encompass/settings_form.html",
        form=form,
        key_form=key_form,
        setting=setting,
        key_adults=list(setting.key_adults),
        button=ButtonForm(),
        errors=errors,
        kinds={k.value: v for k, v in SETTING_KIND_LABELS.items()},
        parent_labels={k.value: v for k, v in PARENT_CONTACT_LABELS.items()},
    )
    return page, 400 if errors else status


@bp.route("/encompass/settings/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def setting(public_id: str) -> Page:
    """Change a setting; its key adults."""
    found = _setting_or_404(public_id)
    form = _setting_form(found)
    done = _save_setting(form, found)
    if done is not None:
        return done
    if request.method == "POST":
        found = _setting_or_404(public_id)  # after a rollback, reload what is saved
    return _setting_page(found, form, KeyAdultForm(formdata=None))


@bp.route("/encompass/settings/<pid:public_id>/key-adults", methods=["POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def add_key_adult(public_id: str) -> Page:
    """Name a key adult or second key adult at the setting."""
    found = _setting_or_404(public_id)
    key_form = KeyAdultForm()
    if key_form.validate_on_submit():
        try:
            services.add_key_adult(
                current_user,
                found,
                key_form.key_adult.data or "",
                int(key_form.rank.data) if is_small_id(key_form.rank.data or "") else 0,
                key_form.briefed_on.data,
                db.london_today(),
            )
        except SettingError as exc:
            db.session.rollback()
            found = _setting_or_404(public_id)
            add_error(getattr(key_form, exc.field, key_form.key_adult), str(exc))
        else:
            db.session.commit()
            flash("Key adult added.", "success")
            return redirect(url_for("encompass.setting", public_id=public_id))
    return _setting_page(found, _setting_form(found, bound=False), key_form)


def _key_adult_or_404(public_id: str) -> KeyAdult:
    """The key adult if the current user manages their setting's local authority; 404 (audited) otherwise."""
    found = services.load_key_adult_for(current_user, public_id)
    if found is None:
        audit.record_denial("encompass.key_adult", object_type="key_adult", object_id=public_id, reason="not_managed")
        db.session.commit()
        abort(404)
    return found


@bp.route("/encompass/key-adults/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def key_adult(public_id: str) -> Page:
    """Record or change a key adult's briefing date."""
    person = _key_adult_or_404(public_id)
    form = BriefingForm(data={"briefed_on": person.briefed_on} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            services.record_briefing(current_user, person, form.briefed_on.data, db.london_today())
        except SettingError as exc:
            db.session.rollback()
            add_error(form.briefed_on, str(exc))
        else:
            db.session.commit()
            flash("Briefing date saved.", "success")
            return redirect(url_for("encompass.setting", public_id=person.setting.public_id))
    person = _key_adult_or_404(public_id)
    page = render_template(
        "encompass/settings_key_adult.html",
        setting=person.setting,
        key_adult=person,
        form=form,
        button=ButtonForm(),
        errors=error_list(form),
    )
    return page, _status()


@bp.route("/encompass/key-adults/<pid:public_id>/remove", methods=["POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def remove_key_adult(public_id: str) -> Response:
    """Stop someone being a key adult at the setting."""
    person = _key_adult_or_404(public_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    setting_id = person.setting.public_id
    services.remove_key_adult(current_user, person)
    db.session.commit()
    flash("Key adult removed.", "success")
    return redirect(url_for("encompass.setting", public_id=setting_id))


# --- term calendar ---------------------------------------------------------------------------------------------


def _calendar_page(setting: Any, form: ClosureForm, upload: CalendarImportForm, extra: list[str] | None = None) -> Page:
    start, end = calendars.calendar_years(db.london_today())
    extra_errors = [(text, "calendar_file") for text in extra or []]
    errors = error_list(form) + error_list(upload, extra_errors)
    page = render_template(
        "encompass/settings_calendar.html",
        setting=setting,
        closures=calendars.closures_between(setting, start, end),
        years=(start, end),
        form=form,
        upload=upload,
        button=ButtonForm(),
        kinds=calendars.KIND_LABELS,
        errors=errors,
    )
    return page, 400 if errors else 200


@bp.route("/encompass/settings/<pid:public_id>/calendar", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def calendar(public_id: str) -> Page:
    """The setting's term calendar for this and next academic year; add a holiday or training day."""
    found = _setting_or_404(public_id)
    form = ClosureForm(formdata=None if request.method == "GET" else request.form)
    if request.method == "POST" and form.validate_on_submit():
        data = form.kind.data or "", form.starts_on.data, form.ends_on.data, form.label.data
        try:
            row = calendars.check_closure(*data, db.london_today())
        except SettingError as exc:
            message = CLOSURE_MESSAGES.get(str(exc), str(exc))
            add_error(getattr(form, exc.field, form.starts_on), message)
        else:
            added = calendars.add_closures(current_user, [found], [row], "form")
            db.session.commit()
            flash("Added to the calendar." if added else "The calendar already has this closure.", "success")
            return redirect(url_for("encompass.calendar", public_id=public_id))
    return _calendar_page(found, form, CalendarImportForm(formdata=None))


@bp.route("/encompass/settings/<pid:public_id>/calendar/remove", methods=["POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def remove_closure(public_id: str) -> Response:
    """Remove a holiday or training day from the setting's calendar."""
    found = _setting_or_404(public_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    closure_id = request.form.get("closure", "")
    if not is_small_id(closure_id) or not calendars.remove_closure(current_user, found, int(closure_id)):
        abort(404)
    db.session.commit()
    flash("Removed from the calendar.", "success")
    return redirect(url_for("encompass.calendar", public_id=public_id))


@bp.route("/encompass/settings/<pid:public_id>/calendar/import", methods=["POST"])
@require(Permission.ENCOMPASS_SETTINGS)
@accepts_upload(calendars.MAX_BYTES, back="encompass.calendar")
def import_calendar(public_id: str) -> Page:
    """Import a term-calendar CSV into the setting, or every open setting of its local authority: every row valid
    or nothing imported; rows already in a calendar are not added again."""
    found = _setting_or_404(public_id)
    upload = CalendarImportForm()
    problems: list[str] = []
    if upload.validate_on_submit():
        file = upload.calendar_file.data
        if file is None or not getattr(file, "filename", ""):
            problems = ["Choose a CSV file to import"]
        else:
            try:
                rows, problems = calendars.parse_calendar(file.read(calendars.MAX_BYTES + 1), db.london_today())
            except calendars.CalendarFileError as exc:
                problems = [str(exc)]
            else:
                if not problems:
                    targets = calendars.authority_settings(found) if upload.whole_authority.data else [found]
                    added = calendars.add_closures(current_user, targets, rows, "import")
                    db.session.commit()
                    flash(f"Imported {len(rows)} rows into {len(targets)} settings: {added} added.", "success")
                    return redirect(url_for("encompass.calendar", public_id=public_id))
    return _calendar_page(found, ClosureForm(formdata=None), upload, problems or ["Choose a CSV file to import"])


# --- local-authority arrangements ----------------------------------------------------------------------------


@bp.route("/encompass/authorities/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_SETTINGS)
def authority(public_id: str) -> Page:
    """A local authority's arrangements: its children's social care and its nation."""
    local_authority = services.load_authority_for(current_user, public_id)
    if local_authority is None:
        audit.record_denial("encompass.authority", object_type="agency", object_id=public_id, reason="not_managed")
        db.session.commit()
        abort(404)
    arrangements = services.authority_for(local_authority.id)
    form = AuthorityForm()
    form.childrens_social_care.choices = [("", "Not recorded")] + [
        (a.public_id, a.name) for a in services.social_care_choices()
    ]
    if request.method == "GET":
        care: Agency | None = arrangements.childrens_social_care if arrangements else None
        form.childrens_social_care.data = care.public_id if care else ""
        form.nation.data = arrangements.nation if arrangements else "england-wales"
    if form.validate_on_submit():
        try:
            services.save_authority(
                current_user, local_authority, form.childrens_social_care.data or "", form.nation.data or ""
            )
        except SettingError as exc:
            db.session.rollback()
            add_error(getattr(form, exc.field, form.nation), str(exc))
        else:
            db.session.commit()
            flash("Arrangements saved.", "success")
            return redirect(url_for("encompass.settings", authority=public_id))
    page = render_template(
        "encompass/settings_authority.html", authority=local_authority, form=form, errors=error_list(form)
    )
    return page, _status()
