"""Unit of work: one session and one transaction per handled event, committed at the edge."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.evaluation import (
    AnalysisRepository,
    EditionRepository,
    JuryRepository,
    NominationRepository,
)
from storage.published import PublishedRepository
from storage.publishing import PublicationRepository, ReplyRepository
from storage.reporting import AuditRepository, ReportRepository
from storage.repositories import (
    AuditLogRepository,
    CatalogRepository,
    OutboxRepository,
    ReminderRepository,
    RespondentRepository,
    ResponseRepository,
    ResultsRequestRepository,
    RoundRepository,
    SettingsRepository,
    StaffRepository,
    SubscriptionRepository,
    SurveyRepository,
    UpdateLog,
    WebAuthRepository,
)
from storage.tallies import Tallies


class UnitOfWork:
    """`async with db.unit_of_work() as uow:` commits on a clean exit and rolls back on error."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        self.settings = SettingsRepository(self.session)
        self.catalog = CatalogRepository(self.session)
        self.surveys = SurveyRepository(self.session)
        self.rounds = RoundRepository(self.session)
        self.respondents = RespondentRepository(self.session)
        self.responses = ResponseRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session)
        self.reminders = ReminderRepository(self.session)
        self.results_requests = ResultsRequestRepository(self.session)
        self.updates = UpdateLog(self.session)
        self.staff = StaffRepository(self.session)
        self.audit_log = AuditLogRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.reports = ReportRepository(self.session)
        self.web = WebAuthRepository(self.session)
        self.tallies = Tallies(self.session)
        self.published = PublishedRepository(self.session)
        self.editions = EditionRepository(self.session)
        self.nominations = NominationRepository(self.session)
        self.jury = JuryRepository(self.session)
        self.analysis = AnalysisRepository(self.session)
        self.publications = PublicationRepository(self.session)
        self.replies = ReplyRepository(self.session)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
