"""Applets and hosted templates: registering, listing and rendering them as Tator does.

A hosted template is a URL plus default ``headers``/``tparams`` (organization scope, needs an
organization Admin). An applet (project scope, needs Can Execute) may point at a template;
then listing or getting it fetches the template with a plain GET (no timeout, no status
check) and renders it with Jinja2, the merged tparams as the only context
(tator-api.md section 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2
import requests

from . import auth
from .errors import bad_request, forbidden, not_found
from .handlers import Answer, Call, ok

APPLET_FIELDS = ("name", "html_file", "description", "categories", "template", "tparams")


def _as_dict(params: list[dict[str, str]] | None) -> dict[str, str]:
    return {p["name"]: p["value"] for p in params or []}


def render_applet(call: Call, applet: dict[str, Any], with_applet_headers: bool) -> str:
    """Fetches and renders an applet's template; any failure is a 400 as in Tator."""
    template = call.store.hosted_templates.get(applet["template"])
    if template is None:
        raise bad_request(f"Hosted template {applet['template']} does not exist")
    headers = _as_dict(template["headers"])
    if with_applet_headers:
        headers.update(_as_dict(applet.get("headers")))
    tparams = {**_as_dict(template["tparams"]), **_as_dict(applet.get("tparams"))}
    try:
        text = requests.get(template["url"], headers=headers).text
        return jinja2.Template(text).render(tparams)
    except (requests.RequestException, jinja2.TemplateError) as exc:
        raise bad_request(str(exc)) from exc


def _require_admin(call: Call, organization: int) -> None:
    auth_user = call.user
    if auth_user is None:
        raise bad_request("Authentication credentials were not provided.")
    if organization != call.store.organization or auth_user.id not in \
            call.store.organization_admins:
        raise forbidden(f"User {auth_user.id} does not have Admin permissions for "
                        f"organization {organization}")


def _applet_json(call: Call, applet: dict[str, Any]) -> dict[str, Any]:
    out = {"id": applet["id"], "project": applet["project"]}
    out.update({name: applet.get(name) for name in APPLET_FIELDS})
    if applet.get("template") is not None:
        out["rendered"] = render_applet(call, applet, with_applet_headers=False)
    return out


def _applet(call: Call) -> dict[str, Any]:
    applet = call.store.applets.get(call.path["id"])
    if applet is None:
        raise not_found("Dashboard")
    auth.require(call.store.get_project(applet["project"]), call.user, auth.EXECUTE)
    return applet


def get_applet_list(call: Call) -> Answer:
    """``GET /rest/Applets/{project}`` (renders every templated applet)."""
    project = call.store.get_project(call.path["project"])
    auth.require(project, call.user, auth.EXECUTE)
    applets = [a for a in call.store.applets.values() if a["project"] == project.id]
    return ok([_applet_json(call, a) for a in sorted(applets, key=lambda a: a["id"])])


def get_applet(call: Call) -> Answer:
    """``GET /rest/Applet/{id}``."""
    return ok(_applet_json(call, _applet(call)))


def _applet_record(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    record = {"name": body["name"], "html_file": body.get("html_file"),
              "description": body.get("description", ""),
              "categories": body.get("categories") or [], "template": body.get("template"),
              "tparams": body.get("tparams") or [], "headers": body.get("headers") or []}
    if record["template"] is not None:
        template = call.store.hosted_templates.get(record["template"])
        if template is None:
            raise bad_request(f"Hosted template {record['template']} does not exist")
        _require_admin(call, template["organization"])
        render_applet(call, record, with_applet_headers=True)
    return record


def register_applet(call: Call) -> Answer:
    """``POST /rest/Applets/{project}`` (201); a template is fetched once to validate it."""
    project = call.store.get_project(call.path["project"])
    auth.require(project, call.user, auth.EXECUTE)
    record = _applet_record(call, call.body)
    with call.store.lock:
        record.update(id=call.store.next_id("applet"), project=project.id)
        call.store.applets[record["id"]] = record
    return Answer(201, {"message": f"Successfully registered applet {record['name']}!",
                        "id": record["id"]})


def update_applet(call: Call) -> Answer:
    """``PATCH /rest/Applet/{id}``."""
    applet = _applet(call)
    applet.update(_applet_record(call, {**applet, **call.body}))
    return ok({"message": f"Applet {applet['id']} successfully updated!"})


def delete_applet(call: Call) -> Answer:
    """``DELETE /rest/Applet/{id}``."""
    applet = _applet(call)
    call.store.applets.pop(applet["id"], None)
    return ok({"message": f"Applet {applet['id']} successfully deleted!"})


def _template_json(template: dict[str, Any]) -> dict[str, Any]:
    return {"id": template["id"], "name": template["name"],
            "organization": template["organization"], "url": template["url"],
            "tparams": template["tparams"], "effective_permission": 0}


def _template(call: Call) -> dict[str, Any]:
    template = call.store.hosted_templates.get(call.path["id"])
    if template is None:
        raise not_found("HostedTemplate")
    _require_admin(call, template["organization"])
    return template


def get_hosted_template_list(call: Call) -> Answer:
    """``GET /rest/HostedTemplates/{organization}`` (organization Admins only)."""
    _require_admin(call, call.path["organization"])
    found = [t for t in call.store.hosted_templates.values()
             if t["organization"] == call.path["organization"]]
    return ok([_template_json(t) for t in sorted(found, key=lambda t: t["id"])])


def get_hosted_template(call: Call) -> Answer:
    """``GET /rest/HostedTemplate/{id}`` (never shows ``headers``)."""
    return ok(_template_json(_template(call)))


def create_hosted_template(call: Call) -> Answer:
    """``POST /rest/HostedTemplates/{organization}`` (201)."""
    _require_admin(call, call.path["organization"])
    body = call.body
    with call.store.lock:
        template = {"id": call.store.next_id("hosted_template"), "name": body["name"],
                    "url": body["url"], "organization": call.path["organization"],
                    "headers": body.get("headers") or [], "tparams": body.get("tparams") or []}
        call.store.hosted_templates[template["id"]] = template
    return Answer(201, {"message": f"Successfully created hosted template {body['name']}!",
                        "id": template["id"]})


def update_hosted_template(call: Call) -> Answer:
    """``PATCH /rest/HostedTemplate/{id}`` (the spec requires ``name`` and ``url``)."""
    template = _template(call)
    template.update({k: call.body[k] for k in ("name", "url", "headers", "tparams")
                     if k in call.body})
    return ok({"message": f"Hosted template {template['id']} successfully updated!"})


def delete_hosted_template(call: Call) -> Answer:
    """``DELETE /rest/HostedTemplate/{id}``."""
    template = _template(call)
    call.store.hosted_templates.pop(template["id"], None)
    return ok({"message": f"Hosted template {template['id']} successfully deleted!"})


APPLET_HANDLERS: dict[str, Callable[[Call], Answer]] = {
    "GetAppletList": get_applet_list,
    "GetApplet": get_applet,
    "RegisterApplet": register_applet,
    "UpdateApplet": update_applet,
    "DeleteApplet": delete_applet,
    "GetHostedTemplateList": get_hosted_template_list,
    "GetHostedTemplate": get_hosted_template,
    "CreateHostedTemplate": create_hosted_template,
    "UpdateHostedTemplate": update_hosted_template,
    "DeleteHostedTemplate": delete_hosted_template,
}
"""Operation id → handler for the applet and hosted-template operations."""
