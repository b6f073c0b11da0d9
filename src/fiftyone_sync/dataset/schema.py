"""The dataset's declared fields, the App's annotation label schemas and the patches views.

Declaring every label attribute with its type (instead of leaving them dynamic) makes the
App show and filter them and lets label schemas refer to them. The label schemas are built
from the localization types' attribute types, so Annotate mode offers the project's real
classes: enum choices, or for a free-text class the values present in the dataset. Identity
attributes (``tator_*``) are read-only. FiftyOne 1.22.1 supports annotation of Detections
and Polylines on image datasets, not Keypoints: dot fields get no label schema (they are
shown and filtered, not edited in the App).

Saved patches views are stored unbuilt (see :func:`save_patch_views`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping

import fiftyone as fo
import fiftyone.core.odm as foo
import fiftyone.core.stages as fos
from bson import json_util
from fiftyone import ViewField as F

from fiftyone_sync.dataset import attributes as attrs
from fiftyone_sync.dataset.mapping import TypeInfo

logger = logging.getLogger(__name__)

FRAME_DESCRIPTION = ("Tator frame index, 0-based (the first frame of a video is 0; "
                     "images have frame 0)")
RADIO_MAX_CLASSES = 12

_SAMPLE_FIELDS: list[tuple[str, type, dict, str]] = [
    ("tator_media_id", fo.IntField, {}, "Tator media id"),
    ("tator_media_name", fo.StringField, {}, "Tator media name"),
    ("tator_media_type", fo.StringField, {}, "Tator media dtype (image or video)"),
    ("frame", fo.IntField, {}, FRAME_DESCRIPTION),
    ("tator_media_attributes", fo.DictField, {}, "Tator media attributes"),
    ("tator_url", fo.StringField, {}, "Tator annotation view of this media frame"),
]

_IDENTITY_FIELDS: list[tuple[str, type, str]] = [
    ("tator_elemental_id", fo.StringField, "str"),
    ("tator_version", fo.IntField, "int"),
    ("tator_id", fo.IntField, "int"),
    ("tator_mark", fo.IntField, "int"),
    ("tator_type", fo.IntField, "int"),
    ("tator_url", fo.StringField, "str"),
]

_LIST_CLASSES = {"Detections": fo.Detections, "Keypoints": fo.Keypoints,
                 "Polylines": fo.Polylines}
_SCHEMA_TYPES = {"bool": "bool", "int": "int", "float": "float", "datetime": "datetime",
                 "geopos": "list<float>", "float_array": "list<float>"}


def declare_fields(dataset: fo.Dataset, infos: Iterable[TypeInfo]) -> None:
    """Declares the sample fields and every label field with its typed attributes.

    Each label field is declared in one call (its list of labels and their attributes as
    nested field specs), and only when something is missing, so a re-pull writes nothing.
    """
    if dataset.media_type != "image":
        dataset.media_type = "image"
    for name, ftype, kwargs, description in _SAMPLE_FIELDS:
        if not dataset.has_field(name):
            dataset.add_sample_field(name, ftype, description=description, **kwargs)

    for info in infos:
        specs = _attribute_specs(info)
        prefix = f"{info.field}.{info.list_key}"
        if dataset.has_field(info.field) and all(
                dataset.has_field(f"{prefix}.{spec['name']}") for spec in specs):
            continue
        label_list = {"name": info.list_key, "ftype": fo.ListField,
                      "subfield": fo.EmbeddedDocumentField,
                      "embedded_doc_type": getattr(fo, info.label_class), "fields": specs}
        dataset.add_sample_field(
            info.field, fo.EmbeddedDocumentField, embedded_doc_type=_LIST_CLASSES[info.list_class],
            fields=[label_list],
            description=f"Tator localization type {info.name} (id {info.id}, {info.dtype})")


def _attribute_specs(info: TypeInfo) -> list[dict]:
    """Field specs (``create_field`` keyword dicts) of a label's identity and attributes."""
    specs = [{"name": name, "ftype": ftype, "description": "Tator identity (read-only)"}
             for name, ftype, _ in _IDENTITY_FIELDS]
    for attr in info.attributes:
        class_name, sub_name = attrs.fiftyone_field_class(attr.dtype)
        spec = {"name": attr.field, "ftype": getattr(fo, class_name),
                "description": f"Tator attribute {attr.name!r} ({attr.dtype})"}
        if sub_name:
            spec["subfield"] = getattr(fo, sub_name)
        specs.append(spec)
    return specs


def label_schema(info: TypeInfo, present_classes: Iterable[str]) -> dict | None:
    """The App annotation schema of one label field (None for Keypoints fields)."""
    if info.list_class == "Keypoints":
        return None
    classes = list(info.class_choices) or sorted(set(present_classes))
    schema: dict = {"type": info.list_class.lower(), "attributes": []}
    if classes:
        schema["component"] = "radio" if len(classes) <= RADIO_MAX_CLASSES else "dropdown"
        schema["classes"] = classes
    else:
        schema["component"] = "text"

    for name, _, kind in _IDENTITY_FIELDS:
        schema["attributes"].append({"name": name, "type": kind, "component": "text",
                                     "read_only": True})
    for attr in info.attributes:
        schema["attributes"].append(_attribute_schema(attr.field, attr.dtype, attr.choices))
    return schema


def _attribute_schema(field: str, dtype: str, choices: tuple[str, ...]) -> dict:
    if dtype == "enum" and choices:
        return {"name": field, "type": "str", "component": "dropdown",
                "values": list(choices)}
    kind = _SCHEMA_TYPES.get(dtype, "str")
    component = {"bool": "toggle", "datetime": "datepicker"}.get(kind, "text")
    return {"name": field, "type": kind, "component": component}


def apply_label_schemas(dataset: fo.Dataset, infos: Iterable[TypeInfo],
                        present: Mapping[str, Iterable[str]]) -> None:
    """Sets and activates the label schemas of every editable label field.

    Args:
        dataset: the dataset.
        infos: the localization types' mappings.
        present: per label field, the class values present (for free-text classes).
    """
    schemas = {}
    for info in infos:
        schema = label_schema(info, present.get(info.field, ()))
        if schema is not None:
            schemas[info.field] = schema
    if schemas == dataset.label_schemas:
        return
    dataset.set_label_schemas(schemas)
    dataset.activate_label_schemas()


def save_patch_views(dataset: fo.Dataset, infos: Iterable[TypeInfo],
                     labels_changed: bool) -> None:
    """Keeps one saved patches view per label field (crop-grid review), ``{field}_patches``.

    A saved patches view is backed by a generated dataset holding one document per label.
    FiftyOne builds it when the view is built and then reuses it, even after the labels
    changed: built at the first pull, it would show that pull's patches for ever, and
    building it costs a pull about 5 s per 100,000 labels for a view that may never be
    opened. So a view is saved unbuilt (its stages only), and a pull that changed labels
    deletes the backing dataset: FiftyOne builds it afresh, from the labels of the day, when
    someone next opens the view.

    Dots have no extent: their patches view is of keypoints, and the crop window around a
    dot is the ``dot_crop_window`` setting applied by whoever renders crops.
    """
    existing = set(dataset.list_saved_views())
    for info in infos:
        name = f"{info.field}_patches"
        if name not in existing:
            _save_unbuilt_patches_view(dataset, name, info)
        elif labels_changed:
            _drop_patches_backing(dataset, name)


def _save_unbuilt_patches_view(dataset: fo.Dataset, name: str, info: TypeInfo) -> None:
    """What ``dataset.save_view(name, view.to_patches(field))`` stores, without building it.

    Mirrors ``Dataset.save_view`` of FiftyOne 1.22: the ``ToPatches`` stage is stored with
    no state, which is how FiftyOne knows it has never been built.
    """
    stages = dataset.match(F(info.field).exists())._serialize(include_uuids=False)
    stages.append(fos.ToPatches(info.field)._serialize(include_uuid=False))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # FiftyOne: naive UTC
    view_doc = foo.SavedViewDocument(
        dataset_id=dataset._doc.id, name=name, slug=dataset._validate_saved_view_name(name),
        description=f"One patch per {info.name} localization",
        view_stages=[json_util.dumps(stage) for stage in stages],
        created_at=now, last_modified_at=now)
    view_doc.save(upsert=True)
    dataset._doc.reload("saved_views")
    dataset._doc.saved_views.append(view_doc)
    dataset._doc.last_modified_at = now
    dataset._doc.save(virtual=True)


def _drop_patches_backing(dataset: fo.Dataset, name: str) -> None:
    """Deletes the generated dataset behind a saved patches view, if it was ever built."""
    view_doc = dataset._get_saved_view_doc(name)
    for text in view_doc.view_stages:
        kwargs = dict(json.loads(text).get("kwargs") or [])
        backing = (kwargs.get("_state") or {}).get("name")
        if backing and fo.dataset_exists(backing):
            fo.load_dataset(backing).delete()
            logger.info("Saved view %s will be rebuilt from the new labels when opened", name)
