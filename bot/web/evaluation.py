"""The annual evaluation in the dashboard: editions, proposals, the jury's scoring, the ranking.

Every page calls the use cases in app/ (editions, nominations, jury, evaluation); this module
only reads forms, picks what a viewer may see and renders it. Who may do what:

- staff and admins (the national team, `runs_rounds`) see the editions, set the weights while
  they may still change, decide the proposals waiting in the queue, record the analysis of each
  nominated practice (notes and evidence per criterion, a recommendation, with the residents'
  figures beside it) while the edition is open, follow the jury's progress
  (counts only) and, once an edition is closed, see the combined ranking and confirm the
  distinguished practices;
- every signed-in dashboard user may propose a practice: coordinators (cities, and NGOs given a
  coordinator's access to their city) only in their own cities, staff in any; the outcome comes
  to them in Telegram, like a proposal made in the bot, and counts towards the same daily limit;
- a dashboard user who is a juror of the edition whose jury is open scores its practices. The
  pages only ever show the signed-in juror's own scores: no URL names a juror, so there is no
  other juror's page to guess.

Anything that does not exist or is not the viewer's answers the same 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, tzinfo
from typing import Any, Protocol

from aiohttp import web

from app import analysis as analysis_cases
from app import editions as edition_cases
from app import evaluation as evaluation_cases
from app import jury as jury_cases
from app import nominations as nomination_cases
from app.editions import CLOSED, EditionError, Weights
from app.nominations import NominationError
from app.services import Services
from bot.web.auth import Viewer
from conversations import nomination
from conversations.jury_scoring import CRITERION_NAMES, RECOMMENDATION_NAMES
from conversations.messages import Local, Msg, _
from conversations.nomination import link_problem
from conversations.notices import last_moment
from storage.models import Edition, utcnow
from storage.uow import UnitOfWork

Page = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


class Host(Protocol):
    """The dashboard's plumbing these pages render through (bot/web/dashboard.py: Dashboard,
    which imports this module: named here by what it does, not imported back)."""

    services: Services

    def signed_in(
        self, handler: Page, *, form: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]: ...

    def page(
        self,
        template: str,
        viewer: Viewer | None,
        *,
        status: int = 200,
        locale: str | None = None,
        **context: Any,
    ) -> web.Response: ...

    def not_found(self, viewer: Viewer) -> web.Response: ...


PHASE_NAMES: dict[str, Msg] = {
    edition_cases.PLANNED: _("planned"),
    edition_cases.NOMINATIONS: _("nominations"),
    edition_cases.ANALYSIS: _("analysis"),
    edition_cases.JURY: _("jury"),
    edition_cases.CLOSED: _("closed"),
}
STATUS_NAMES: dict[str, Msg] = {
    nomination_cases.PENDING: _("waiting"),
    nomination_cases.ACCEPTED: _("accepted"),
    nomination_cases.REJECTED: _("rejected"),
    nomination_cases.MERGED: _("merged"),
}


class EvaluationPages:
    """The evaluation's dashboard pages, rendered through the dashboard's own plumbing."""

    def __init__(self, dashboard: Host) -> None:
        self.dashboard = dashboard
        self.services = dashboard.services

    def routes(self) -> list[web.RouteDef]:
        """Every evaluation route (each behind sign-in; forms behind the CSRF token)."""
        signed_in = self.dashboard.signed_in
        year = "{year:\\d{4}}"
        return [
            web.get("/dashboard/editions", signed_in(self.staff(self.editions))),
            web.get(f"/dashboard/editions/{year}", signed_in(self.staff(self.edition))),
            web.post(
                f"/dashboard/editions/{year}/weights",
                signed_in(self.staff(self.weights), form=True),
            ),
            web.post(
                f"/dashboard/editions/{year}/close",
                signed_in(self.staff(self.close), form=True),
            ),
            web.get(f"/dashboard/editions/{year}/nominations", signed_in(self.staff(self.queue))),
            web.get(f"/dashboard/editions/{year}/analysis", signed_in(self.staff(self.analysis))),
            web.post(
                f"/dashboard/editions/{year}/analysis/{{practice_id}}",
                signed_in(self.staff(self.record_analysis), form=True),
            ),
            web.post(
                "/dashboard/nominations/{nomination_id:\\d+}/{action:accept|reject|merge}",
                signed_in(self.staff(self.decide), form=True),
            ),
            web.get(f"/dashboard/editions/{year}/ranking", signed_in(self.staff(self.ranking))),
            web.post(
                f"/dashboard/editions/{year}/distinguish",
                signed_in(self.staff(self.distinguish), form=True),
            ),
            web.get("/dashboard/propose", signed_in(self.propose_form)),
            web.post("/dashboard/propose", signed_in(self.propose, form=True)),
            web.get("/dashboard/jury", signed_in(self.jury)),
            web.get("/dashboard/jury/practices/{practice_id}", signed_in(self.jury_practice)),
            web.post(
                "/dashboard/jury/practices/{practice_id}/{action:score|recuse}",
                signed_in(self.jury_record, form=True),
            ),
            web.post("/dashboard/jury/submit", signed_in(self.jury_submit, form=True)),
        ]

    def staff(self, handler: Page) -> Page:
        """Pages of the national team only; anyone else gets the usual 404."""

        async def guarded(request: web.Request, viewer: Viewer) -> web.StreamResponse:
            if not viewer.role.runs_rounds:
                return self.dashboard.not_found(viewer)
            return await handler(request, viewer)

        return guarded

    def _actor(self, viewer: Viewer) -> str:
        return f"tg:{viewer.role.user_id}"

    # --- editions -----------------------------------------------------------------------

    async def editions(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Every edition with its phase, dates and weights."""
        async with self.services.db.reading() as uow:
            rows = [self._edition_facts(e) for e in await edition_cases.editions(uow)]
        return self.dashboard.page("editions.html", viewer, rows=rows, back="/dashboard/editions")

    async def edition(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """One edition: phase, dates, weights (a form while they may change), jury progress."""
        return await self._edition_page(viewer, int(request.match_info["year"]))

    async def _edition_page(
        self, viewer: Viewer, year: int, *, problem: Msg | None = None, status: int = 200
    ) -> web.StreamResponse:
        async with self.services.db.reading() as uow:
            found = await _edition(uow, year)
            if found is None:
                return self.dashboard.not_found(viewer)
            progress = await jury_cases.progress(uow, year)
            waiting = len(await nomination_cases.listing(uow, year, nomination_cases.PENDING))
            practices = len(await uow.nominations.practices(year))
        return self.dashboard.page(
            "edition.html",
            viewer,
            status=status,
            edition=self._edition_facts(found),
            progress=progress,
            waiting=waiting,
            practices=practices,
            problem=problem,
            back=f"/dashboard/editions/{year}",
        )

    def _edition_facts(self, edition: Edition) -> dict[str, Any]:
        zone = self.services.settings.tz
        return {
            "year": edition.year,
            "phase": PHASE_NAMES.get(edition.status, _("planned")),
            "closed": edition.status == CLOSED,
            "nominations": edition.nominations_open_at.astimezone(zone).date(),
            "analysis": edition.analysis_open_at.astimezone(zone).date(),
            "jury": edition.jury_open_at.astimezone(zone).date(),
            "ends": _last_day(edition, zone),
            "jury_weight": edition.jury_weight,
            "residents_weight": edition.residents_weight,
            "frozen": edition_cases.weights_frozen(edition),
        }

    async def weights(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Set the weights; refused in words once the jury phase has opened."""
        year = int(request.match_info["year"])
        data = await request.post()
        jury_share = _whole(data.get("jury_weight"))
        if jury_share is None or not 0 <= jury_share <= 100:
            return await self._edition_page(
                viewer,
                year,
                problem=_("Please give the jury's share as a whole number from 0 to 100."),
                status=400,
            )
        try:
            async with self.services.db.unit_of_work() as uow:
                await edition_cases.set_weights(
                    uow, self._actor(viewer), year, Weights(jury_share, 100 - jury_share), utcnow()
                )
        except EditionError:
            # the refusal rolled back the move into the jury phase: let the scheduler's own
            # step record it, then say why in the viewer's language
            await edition_cases.reconcile_editions(self.services.db)
            async with self.services.db.reading() as uow:
                found = await _edition(uow, year)
            if found is None:
                return self.dashboard.not_found(viewer)
            problem = _("The weights were not changed.")
            if edition_cases.weights_frozen(found):
                problem = _(
                    "The weights cannot change any more: they were fixed when the jury "
                    "phase opened. They stay: jury {jury} %, residents {residents} %.",
                    jury=str(found.jury_weight),
                    residents=str(found.residents_weight),
                )
            return await self._edition_page(viewer, year, problem=problem, status=409)
        return _see_other(f"/dashboard/editions/{year}")

    async def close(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """End an edition now (as `auditbot edition close` does): the jury's scores lock and
        the ranking can be read; logged."""
        year = int(request.match_info["year"])
        try:
            async with self.services.db.unit_of_work() as uow:
                await edition_cases.close_edition(uow, self._actor(viewer), year, utcnow())
        except EditionError:
            async with self.services.db.reading() as uow:
                if await _edition(uow, year) is None:
                    return self.dashboard.not_found(viewer)
            problem = _("This edition is closed already.")
            return await self._edition_page(viewer, year, problem=problem, status=409)
        return _see_other(f"/dashboard/editions/{year}")

    # --- analysis -----------------------------------------------------------------------

    async def analysis(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Every nominated practice with its analysis (a form while the edition is open) and
        the residents' figures of the year beside it."""
        return await self._analysis_page(viewer, int(request.match_info["year"]))

    async def _analysis_page(
        self, viewer: Viewer, year: int, *, problem: Msg | None = None, status: int = 200
    ) -> web.StreamResponse:
        settings = self.services.settings
        # a writing unit of work: the residents' figures are published first, as in any report
        async with self.services.db.unit_of_work() as uow:
            found = await _edition(uow, year)
            if found is None:
                return self.dashboard.not_found(viewer)
            views = await analysis_cases.analyses(uow, year, settings.tz, settings.min_group_size)
        rows = [
            {
                "id": view.practice.id,
                "name": Local(view.practice.name),
                "residents": view.residents,
                "recommendation": view.analysis.recommendation if view.analysis else None,
                "criteria": [
                    (criterion, title, _recorded(view.analysis, criterion))
                    for criterion, title in CRITERION_NAMES.items()
                ],
            }
            for view in views
        ]
        return self.dashboard.page(
            "analysis.html",
            viewer,
            status=status,
            year=year,
            closed=found.status == CLOSED,
            rows=rows,
            recommendations=list(RECOMMENDATION_NAMES.items()),
            problem=problem,
            back=f"/dashboard/editions/{year}/analysis",
        )

    async def record_analysis(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Save what changed in one practice's analysis (each change logged, as in the CLI)."""
        year, practice_id = int(request.match_info["year"]), request.match_info["practice_id"]
        data = await request.post()
        entered = {
            criterion: (
                str(data.get(f"{criterion}_notes", "")).strip(),
                [line.strip() for line in str(data.get(f"{criterion}_evidence", "")).splitlines()],
            )
            for criterion in CRITERION_NAMES
        }
        problem = _analysis_problem(entered)
        if problem is not None:
            return await self._analysis_page(viewer, year, problem=problem, status=400)
        recommendation = str(data.get("recommendation", "")) or None
        try:
            async with self.services.db.unit_of_work() as uow:
                found = await _edition(uow, year)
                if found is not None and found.status != CLOSED:
                    await self._save_analysis(
                        uow, viewer, year, practice_id, entered, recommendation
                    )
        except EditionError as error:
            problem = _("Not done: {reason}", reason=str(error))
            return await self._analysis_page(viewer, year, problem=problem, status=409)
        if found is None:
            return self.dashboard.not_found(viewer)
        if found.status == CLOSED:
            problem = _("The edition is closed: its analysis can no longer change.")
            return await self._analysis_page(viewer, year, problem=problem, status=409)
        return _see_other(f"/dashboard/editions/{year}/analysis#practice-{practice_id}")

    async def _save_analysis(
        self,
        uow: UnitOfWork,
        viewer: Viewer,
        year: int,
        practice_id: str,
        entered: dict[str, tuple[str, list[str]]],
        recommendation: str | None,
    ) -> None:
        """Record each criterion whose notes or links changed, then a new recommendation."""
        actor, now = self._actor(viewer), utcnow()
        stored = await uow.analysis.get(year, practice_id)
        for criterion, (notes, lines) in entered.items():
            links = [link for link in lines if link]
            if (notes or links) and _recorded(stored, criterion) != (notes, links):
                await analysis_cases.record_analysis(
                    uow,
                    actor,
                    year,
                    practice_id,
                    now,
                    criterion=criterion,
                    notes=notes,
                    evidence=links,
                )
        before = stored.recommendation if stored is not None else None
        if recommendation is not None and recommendation != before:
            await analysis_cases.record_analysis(
                uow, actor, year, practice_id, now, recommendation=recommendation
            )

    # --- nominations --------------------------------------------------------------------

    async def queue(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """An edition's proposals: those waiting with accept / reject / merge, then the rest."""
        return await self._queue(viewer, int(request.match_info["year"]))

    async def _queue(
        self, viewer: Viewer, year: int, *, problem: Msg | None = None, status: int = 200
    ) -> web.StreamResponse:
        async with self.services.db.reading() as uow:
            if await _edition(uow, year) is None:
                return self.dashboard.not_found(viewer)
            cities = {c.id: c.name for c in await uow.catalog.cities()}
            categories = {c.id: c.name for c in await uow.catalog.categories()}
            rows: list[dict[str, Any]] = [
                {
                    "n": n,
                    "city": Local(cities.get(n.city_id, {})),
                    "category": Local(categories.get(n.category_id, {})),
                    "runner": nomination.RUNNER_NAMES.get(
                        n.runner, nomination.RUNNER_NAMES["other"]
                    ),
                    "status": STATUS_NAMES.get(n.status, _("waiting")),
                }
                for n in await nomination_cases.listing(uow, year)
            ]
        waiting = [r for r in rows if r["n"].status == nomination_cases.PENDING]
        return self.dashboard.page(
            "nominations.html",
            viewer,
            status=status,
            year=year,
            waiting=waiting,
            decided=[r for r in rows if r["n"].status != nomination_cases.PENDING],
            problem=problem,
            back=f"/dashboard/editions/{year}/nominations",
        )

    async def decide(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Accept, reject (with a reason the proposer reads) or merge a proposal; logged."""
        nomination_id = int(request.match_info["nomination_id"])
        action = request.match_info["action"]
        data = await request.post()
        async with self.services.db.reading() as uow:
            found = await uow.nominations.get(nomination_id)
        if found is None:
            return self.dashboard.not_found(viewer)
        year = found.edition_year
        reason = str(data.get("reason", "")).strip()
        into = _whole(data.get("into"))
        if action == "reject" and not reason:
            problem: Msg = _("Please write the reason: the person who proposed it will read it.")
            return await self._queue(viewer, year, problem=problem, status=400)
        if action == "merge" and into is None:
            problem = _("Please choose the proposal to merge it into.")
            return await self._queue(viewer, year, problem=problem, status=400)
        actor, now = self._actor(viewer), utcnow()
        try:
            async with self.services.db.unit_of_work() as uow:
                if action == "accept":
                    await nomination_cases.accept(uow, actor, nomination_id, now)
                elif action == "reject":
                    await nomination_cases.reject(uow, actor, nomination_id, reason, now)
                else:
                    assert into is not None
                    await nomination_cases.merge(uow, actor, nomination_id, into, now)
        except EditionError as error:
            problem = _("Not done: {reason}", reason=str(error))
            return await self._queue(viewer, year, problem=problem, status=409)
        return _see_other(f"/dashboard/editions/{year}/nominations")

    async def propose_form(
        self,
        request: web.Request,
        viewer: Viewer,
        *,
        problem: Msg | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        """The proposal form (or why proposals are not taken now)."""
        async with self.services.db.reading() as uow:
            try:
                edition = await nomination_cases.edition_taking_nominations(uow, utcnow())
            except NominationError as error:
                return self.dashboard.page(
                    "message.html",
                    viewer,
                    title=_("Propose a practice"),
                    text=error.message,
                    back="/dashboard/propose",
                )
            cities = [c for c in await uow.catalog.cities() if viewer.role.covers(c.id)]
            categories = await uow.catalog.categories()
        return self.dashboard.page(
            "propose.html",
            viewer,
            status=status,
            year=edition.year,
            cities=[(c.id, Local(c.name)) for c in cities],
            categories=[(c.id, Local(c.name)) for c in categories],
            runners=[(r, nomination.RUNNER_NAMES[r]) for r in nomination.RUNNERS],
            values=values or {},
            problem=problem,
            sent=request.query.get("sent") == "1",
            back="/dashboard/propose",
        )

    async def propose(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Record a proposal made in the dashboard: checked by the same use case as the bot's."""
        data = await request.post()
        fields = ("city", "name", "description", "runner", "since", "link", "category")
        values = {name: str(data.get(name, "")) for name in fields}
        if values["city"] and not viewer.role.covers(values["city"]):
            problem: Msg = _("You can propose practices of your own cities only.")
            return await self.propose_form(
                request, viewer, problem=problem, values=values, status=400
            )
        since = _whole(values["since"])
        if since is None:
            problem = nomination.since_problem(values["since"], utcnow().date()) or _(
                "Please check the form."
            )
            return await self.propose_form(
                request, viewer, problem=problem, values=values, status=400
            )
        proposal = nomination.Proposal(
            city_id=values["city"],
            name=values["name"],
            description=values["description"],
            runner=values["runner"],
            since=since,
            link=values["link"],
            category_id=values["category"],
            locale=viewer.locale,
        )
        user_id = viewer.role.user_id
        try:
            async with self.services.db.unit_of_work() as uow:
                await nomination_cases.propose(
                    uow,
                    proposal,
                    source="dashboard",
                    proposer=self.services.pseudonyms.of("propose", user_id),
                    chat_id=user_id,  # a private chat's id is its user's: told in Telegram
                    now=utcnow(),
                )
        except NominationError as error:
            return await self.propose_form(
                request, viewer, problem=error.message, values=values, status=400
            )
        return _see_other("/dashboard/propose?sent=1")

    # --- the jury -----------------------------------------------------------------------

    async def jury(
        self,
        request: web.Request,
        viewer: Viewer,
        *,
        problem: Msg | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        """The signed-in juror's list of practices with how far they are, and submit."""
        async with self.services.db.reading() as uow:
            juror = await jury_cases.juror_now(uow, viewer.role.user_id, utcnow())
            if juror is None:
                return self.dashboard.not_found(viewer)
            year = juror.edition_year
            done = await jury_cases.finished_practices(uow, year, viewer.role.user_id)
            practices = [(p.id, Local(p.name), done.get(p.id)) for p in await _practices(uow, year)]
        return self.dashboard.page(
            "jury.html",
            viewer,
            status=status,
            year=year,
            label=juror.label,
            submitted=juror.submitted_at is not None,
            practices=practices,
            problem=problem,
            back="/dashboard/jury",
        )

    async def jury_practice(
        self,
        request: web.Request,
        viewer: Viewer,
        *,
        problem: Msg | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        """One practice: its description and the juror's own scores, as a form while open."""
        practice_id = request.match_info["practice_id"]
        async with self.services.db.reading() as uow:
            juror = await jury_cases.juror_now(uow, viewer.role.user_id, utcnow())
            if juror is None:
                return self.dashboard.not_found(viewer)
            year = juror.edition_year
            listed = {p.id: p for p in await _practices(uow, year)}
            if practice_id not in listed:
                return self.dashboard.not_found(viewer)
            mine = [
                s
                for s in await jury_cases.own_scores(uow, year, viewer.role.user_id)
                if s.practice_id == practice_id
            ]
        given = {
            s.criterion: {"score": str(s.score), "reason": s.justification or ""}
            for s in mine
            if s.criterion != jury_cases.RECUSED
        }
        if values:
            given = {
                c: {"score": values.get(f"{c}_score", ""), "reason": values.get(f"{c}_reason", "")}
                for c in jury_cases.CRITERIA
            }
        practice = listed[practice_id]
        return self.dashboard.page(
            "jury_practice.html",
            viewer,
            status=status,
            practice_id=practice_id,
            name=Local(practice.name),
            description=Local(practice.description),
            source=practice.source,
            jury_criteria=[(c, CRITERION_NAMES[c]) for c in jury_cases.CRITERIA],
            given=given,
            recused=any(s.criterion == jury_cases.RECUSED for s in mine),
            locked=juror.submitted_at is not None,
            problem=problem,
            back=f"/dashboard/jury/practices/{practice_id}",
        )

    async def jury_record(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Save the three scores of a practice (each with its sentence), or step aside from it."""
        practice_id = request.match_info["practice_id"]
        data = await request.post()
        user_id, now = viewer.role.user_id, utcnow()
        values = {name: str(value) for name, value in data.items() if name != "csrf"}
        async with self.services.db.reading() as uow:
            juror = await jury_cases.juror_now(uow, user_id, now)
        if juror is None:
            return self.dashboard.not_found(viewer)
        year = juror.edition_year
        if request.match_info["action"] == "score":
            problem = _score_problem(values)
            if problem is not None:
                return await self.jury_practice(
                    request, viewer, problem=problem, values=values, status=400
                )
        try:
            async with self.services.db.unit_of_work() as uow:
                if request.match_info["action"] == "recuse":
                    await jury_cases.recuse(uow, year, user_id, practice_id, now)
                else:
                    for criterion in jury_cases.CRITERIA:
                        await jury_cases.score(
                            uow,
                            year,
                            user_id,
                            practice_id,
                            criterion,
                            int(values[f"{criterion}_score"]),
                            values[f"{criterion}_reason"],
                            now,
                        )
        except EditionError as error:
            return await self.jury_practice(
                request,
                viewer,
                problem=_("Not done: {reason}", reason=str(error)),
                values=values,
                status=409,
            )
        return _see_other("/dashboard/jury")

    async def jury_submit(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Submit and lock the juror's scores, once every practice is scored or recused."""
        user_id, now = viewer.role.user_id, utcnow()
        async with self.services.db.reading() as uow:
            juror = await jury_cases.juror_now(uow, user_id, now)
        if juror is None:
            return self.dashboard.not_found(viewer)
        try:
            async with self.services.db.unit_of_work() as uow:
                await jury_cases.submit(uow, juror.edition_year, user_id, now)
        except EditionError:
            problem = _("Please score every practice, or step aside from it, before you submit.")
            return await self.jury(request, viewer, problem=problem, status=409)
        return _see_other("/dashboard/jury")

    # --- the combined ranking -----------------------------------------------------------

    async def ranking(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """The combined ranking of a closed edition, per category, with the distinctions."""
        year = int(request.match_info["year"])
        settings = self.services.settings
        async with self.services.db.reading() as uow:
            found = await _edition(uow, year)
        if found is None:
            return self.dashboard.not_found(viewer)
        if found.status != CLOSED:
            return self.dashboard.page(
                "message.html",
                viewer,
                title=_("Combined ranking"),
                text=_("The ranking is shown once the jury phase has closed."),
                back=f"/dashboard/editions/{year}/ranking",
            )
        # combined_ranking publishes what is due, so it needs a writing unit of work
        async with self.services.db.unit_of_work() as uow:
            result = await evaluation_cases.combined_ranking(
                uow, year, settings.tz, settings.min_group_size
            )
            categories = {c.id: c.name for c in await uow.catalog.categories()}
            names, distinguished = {}, set()
            for ranked_list in result.by_category.values():
                for ranked in ranked_list:
                    practice = await uow.catalog.practice(ranked.entry.practice_id)
                    if practice is not None:
                        names[practice.id] = Local(practice.name)
                        if practice.distinguished_in == year:
                            distinguished.add(practice.id)
        return self.dashboard.page(
            "ranking.html",
            viewer,
            year=year,
            ranking=[
                (Local(categories.get(category, {})), rows)
                for category, rows in result.by_category.items()
            ],
            alpha=result.alpha,
            k=result.k,
            names=names,
            distinguished=distinguished,
            back=f"/dashboard/editions/{year}/ranking",
        )

    async def distinguish(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Staff confirm a practice as distinguished; stored and logged."""
        year = int(request.match_info["year"])
        practice_id = str((await request.post()).get("practice", ""))
        async with self.services.db.reading() as uow:
            found = await _edition(uow, year)
        if found is None or found.status != CLOSED:
            return self.dashboard.not_found(viewer)
        try:
            async with self.services.db.unit_of_work() as uow:
                await evaluation_cases.confirm_distinction(
                    uow, self._actor(viewer), year, practice_id
                )
        except EditionError:
            return self.dashboard.not_found(viewer)
        return _see_other(f"/dashboard/editions/{year}/ranking")


async def _edition(uow: UnitOfWork, year: int) -> Edition | None:
    """The edition of a year, or None (a 404 to the viewer)."""
    try:
        return await edition_cases.existing(uow, year)
    except EditionError:
        return None


async def _practices(uow: UnitOfWork, year: int) -> list[Any]:
    """The practices of an edition's list, from the catalog."""
    found = []
    for listed in await uow.nominations.practices(year):
        practice = await uow.catalog.practice(listed.practice_id)
        if practice is not None:
            found.append(practice)
    return found


def _last_day(edition: Edition, zone: tzinfo) -> date:
    """The last day of an edition's jury phase, in the configured time zone."""
    return last_moment(edition.closes_at).astimezone(zone).date()


def _whole(value: object) -> int | None:
    """A whole number typed in a form, or None."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None


def _score_problem(values: dict[str, str]) -> Msg | None:
    """What is missing from a practice's scoring form (the use case checks the rest)."""
    low, high = jury_cases.JUSTIFICATION_LIMITS
    for criterion in jury_cases.CRITERIA:
        value = _whole(values.get(f"{criterion}_score"))
        if value is None or not 1 <= value <= 5:
            return _("Please choose a score from 1 to 5 for each criterion.")
        if not low <= len(values.get(f"{criterion}_reason", "").strip()) <= high:
            return _("Please write one sentence (5 to 300 characters).")
    return None


def _recorded(analysis: Any, criterion: str) -> tuple[str, list[str]]:
    """The notes and evidence links recorded for a criterion (empty when none)."""
    entry = analysis.criteria.get(criterion, {}) if analysis is not None else {}
    return entry.get("notes", ""), list(entry.get("evidence", []))


def _analysis_problem(entered: dict[str, tuple[str, list[str]]]) -> Msg | None:
    """What is wrong with an analysis form, in the viewer's language (the use case checks the
    same in the words of the command line)."""
    for notes, links in entered.values():
        if len(notes) > analysis_cases.NOTES_LIMIT:
            return _("Notes: at most {limit} characters.", limit=analysis_cases.NOTES_LIMIT)
        given = [link for link in links if link]
        if len(given) > analysis_cases.EVIDENCE_LIMIT:
            return _("At most {limit} links per criterion.", limit=analysis_cases.EVIDENCE_LIMIT)
        for link in given:
            if link_problem(link) is not None:
                return _("“{link}” is not a web address (https://…).", link=link)
    return None


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})
