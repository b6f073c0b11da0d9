"""FiftyOne operators for Tator: review and push edits, pull again, open in Tator.

Loaded by the App server from ``FIFTYONE_PLUGINS_DIR`` (set by the App manager). Every
operator acts as the reviewer (``fiftyone_sync.plugin.identity``), only on a dataset of the
App's project, and only through our HTTP API (``fiftyone_sync.plugin.api_client``), so the
jobs are the same as the applet's.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

import fiftyone.operators as foo
from fiftyone.operators import types

from fiftyone_sync.plugin import identity, report, targets
from fiftyone_sync.plugin.api_client import ApiError, SyncApi

logger = logging.getLogger(__name__)

REVIEW_WAIT = 300.0
PUSH_WAIT = 1800.0
PULL_WAIT = 1800.0
"""Seconds an operator follows its job; after that it reports where the job is."""


class TatorOperator(foo.Operator):
    """What the Tator operators share: identity, the dataset's version, the token form."""

    operator_name = ""
    label = ""
    icon = ""
    place = types.Places.SAMPLES_GRID_ACTIONS
    as_generator = False

    @property
    def config(self) -> foo.OperatorConfig:
        """The operator's name and label (and whether it executes as a generator)."""
        return foo.OperatorConfig(name=self.operator_name, label=self.label, dynamic=True,
                                  execute_as_generator=self.as_generator)

    def resolve_placement(self, ctx: Any) -> Any:
        """A button in the App (with a form, for the token and the operator's inputs)."""
        return types.Placement(self.place, types.Button(label=self.label, icon=self.icon,
                                                        prompt=True))

    def resolve_input(self, ctx: Any) -> Any:
        """The form: the token field when this App session has none yet, or why not."""
        inputs = types.Object()
        try:
            identity.reviewer(ctx.params)
        except identity.TokenNeeded as need:
            inputs.str(identity.TOKEN_PARAM, label="Your Tator token",
                       description=f"{need} It stays in this App server's memory only.")
        except identity.IdentityError as error:
            inputs.view("identity", types.Error(label=str(error)))
        self.add_inputs(ctx, inputs)
        return types.Property(inputs, view=types.View(label=self.label))

    def add_inputs(self, ctx: Any, inputs: Any) -> None:
        """The operator's own form fields (none by default)."""

    def api(self, ctx: Any) -> tuple[SyncApi, dict[str, Any]]:
        """Our API as the reviewer, for this dataset's version; and the dataset's Tator info.

        Raises:
            identity.IdentityError: the call does not carry the reviewer's identity.
            targets.TargetError: the dataset is not one of this App's project.
        """
        reviewer = identity.reviewer(ctx.params)
        if ctx.dataset is None:
            raise targets.TargetError("open a dataset first")
        info = ctx.dataset.info
        version = targets.dataset_version(info, reviewer.project_id)
        api = SyncApi(identity.api_url(), reviewer.credential, reviewer.project_id, version)
        return api, info["tator"]

    def markdown_output(self, ctx: Any) -> Any:
        """The result dialog: the Markdown summary the execution returned."""
        outputs = types.Object()
        outputs.str("summary", view=types.MarkdownView())
        return types.Property(outputs, view=types.View(label=self.label))

    def resolve_output(self, ctx: Any) -> Any:
        """The result dialog (Markdown summary)."""
        return self.markdown_output(ctx)


class ReviewTatorChanges(TatorOperator):
    """Shows what a push would do: the API's dry-run plan for this dataset."""

    operator_name = "review_tator_changes"
    label = "Review changes for Tator"
    icon = "fact_check"

    def execute(self, ctx: Any) -> dict[str, Any]:
        """Makes the plan (``POST /push?dry_run=true``) and returns its first page."""
        api, tator = self.api(ctx)
        plan = api.review(REVIEW_WAIT)
        targets.remember_plan(ctx.dataset.name, plan["plan_id"])
        logger.info("plugin review of %s: plan %s, %s item(s)", ctx.dataset.name,
                    plan["plan_id"], plan.get("total"))
        return report.plan_report(plan, tator, ctx.dataset.name)


class JobOperator(TatorOperator):
    """An operator that runs an API job and follows it live in the App.

    It executes as a generator: the App shows the job's phase and done/total while it runs,
    then the result dialog. A refusal (no identity, another project's dataset, the API's
    answer) ends in the same dialog and as an error notification.
    """

    as_generator = True

    def execute(self, ctx: Any) -> Iterator[Any]:
        """Runs :meth:`run`, relaying its progress; then shows its result (or refusal)."""
        try:
            result = yield from self.run(ctx)
        except (identity.IdentityError, targets.TargetError, ApiError) as error:
            logger.info("plugin %s refused: %s", self.config.name, error)
            yield ctx.ops.notify(str(error), variant="error")
            result = report.refusal_report(self.label, error)
        yield ctx.ops.show_output(self.markdown_output(ctx).to_json(), result)

    def run(self, ctx: Any) -> Generator[Any, None, dict[str, Any]]:
        """Starts and follows the job, yielding App messages; returns the result dialog's data."""
        raise NotImplementedError

    @staticmethod
    def follow(ctx: Any, api: SyncApi, job_id: str, wait: float
               ) -> Generator[Any, None, dict[str, Any]]:
        """Yields a progress message per poll of the job; returns its last record.

        A job that succeeded changed the dataset, so the App reloads it.
        """
        record: dict[str, Any] = {}
        for record in api.watch(job_id, wait):
            label, fraction = report.progress(record)
            yield ctx.ops.set_progress(label=label, progress=fraction)
        if record.get("state") == "succeeded":
            yield ctx.ops.reload_dataset()
        return record


class PushToTator(JobOperator):
    """Applies a reviewed plan (``POST /push?plan_id=``) and shows what happened."""

    operator_name = "push_to_tator"
    label = "Push to Tator"
    icon = "cloud_upload"

    def add_inputs(self, ctx: Any, inputs: Any) -> None:
        """The plan to apply: the one last reviewed in this App, by default."""
        default = targets.last_plan(ctx.dataset.name) if ctx.dataset is not None else None
        inputs.str("plan_id", required=True, default=default, label="Plan",
                   description="Review changes first; this applies exactly that plan.")

    def run(self, ctx: Any) -> Generator[Any, None, dict[str, Any]]:
        """Runs the push job (a success reloads the dataset: the push writes fixes back)."""
        api, tator = self.api(ctx)
        plan_id = str(ctx.params.get("plan_id") or targets.last_plan(ctx.dataset.name) or "")
        if not plan_id:
            raise targets.TargetError("review changes first: there is no plan to push")

        job = yield from self.follow(ctx, api, api.start_push(plan_id), PUSH_WAIT)
        return report.push_report(job, int(tator["project"]), ctx.dataset.name)


class PullFromTator(JobOperator):
    """Pulls this dataset's Tator version again (``POST /sync``)."""

    operator_name = "pull_from_tator"
    label = "Pull from Tator"
    icon = "cloud_download"

    def run(self, ctx: Any) -> Generator[Any, None, dict[str, Any]]:
        """Queues the pull and follows it a while (a success reloads the dataset)."""
        api, _ = self.api(ctx)
        wait = min(max(float(ctx.params.get("wait", PULL_WAIT)), 0.0), PULL_WAIT)

        job = yield from self.follow(ctx, api, api.start_pull(), wait)
        return report.pull_report(job)


class OpenInTator(TatorOperator):
    """Links to Tator's annotation view of the selected label, or the current sample."""

    operator_name = "open_in_tator"
    label = "Open in Tator"
    icon = "open_in_new"
    place = types.Places.SAMPLES_VIEWER_ACTIONS

    def execute(self, ctx: Any) -> dict[str, Any]:
        """The deep link: element, media and frame of the selection."""
        self.api(ctx)
        info = ctx.dataset.info
        if ctx.selected_labels:
            chosen = ctx.selected_labels[0]
            sample = ctx.dataset[chosen["sample_id"]]
            return _link(targets.label_link(info, sample, chosen["label_id"], chosen["field"]))

        sample_id = ctx.current_sample or (ctx.selected[0] if ctx.selected else None)
        if sample_id is None:
            raise targets.TargetError("select a label or open a sample first")
        return _link(targets.sample_link(info, ctx.dataset[sample_id]))


def _link(url: str) -> dict[str, str]:
    """The link as data and as the dialog's Markdown (a link the reviewer clicks)."""
    return {"url": url, "summary": f"[Open in Tator]({url})"}


def register(plugin: Any) -> None:
    """Registers the Tator operators with FiftyOne."""
    for operator in (ReviewTatorChanges, PushToTator, PullFromTator, OpenInTator):
        plugin.register(operator)
