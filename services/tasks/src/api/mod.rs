//! gRPC handlers for `p06.tasks.v1.Tasks`: check the caller, read the
//! request, call the store, convert the result.

mod admin;
mod attribution;
pub mod convert;
mod extensions;
mod feed;
mod indicators;
mod list;
#[cfg(test)]
pub(crate) use list::status_sql;
mod scoreboard;
mod write;

use crate::{
    domain::calendar::Calendar,
    error::{Result, TasksError},
    store::{Mutation, TaskStore},
};
use convert::{assignment_key, assignment_to_pb, directive_to_pb, id_in, task_to_pb};
use p06_kit::{Caller, Grant, Shutdown, client::InternalChannel, clock::SharedClock, dates};
use p06_proto::{
    localities::v1::localities_client::LocalitiesClient,
    tasks::v1::{self as pb, tasks_server::Tasks},
};
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

/// The service implementation over a store.
pub struct TasksApi<S> {
    store: Arc<S>,
    clock: SharedClock,
    calendar: Arc<RwLock<Calendar>>,
    localities: LocalitiesClient<InternalChannel>,
    written: Arc<Notify>,
    shutdown: Shutdown,
}

impl<S: TaskStore> TasksApi<S> {
    /// A service over `store`, checking units with `localities`.
    pub fn new(
        store: Arc<S>,
        clock: SharedClock,
        calendar: Calendar,
        localities: InternalChannel,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            store,
            clock,
            calendar: Arc::new(RwLock::new(calendar)),
            localities: LocalitiesClient::new(localities),
            written: Arc::new(Notify::new()),
            shutdown,
        }
    }

    fn calendar(&self) -> Calendar {
        self.calendar.read().map(|c| c.clone()).unwrap_or_default()
    }

    fn as_of(&self, field: &str, value: &str) -> Result<chrono::NaiveDate, Status> {
        Ok(dates::parse_opt(field, value)?.unwrap_or_else(|| self.clock.today()))
    }

    fn mutation(
        &self,
        caller: &Caller,
        method: &'static str,
        request_id: &str,
    ) -> Result<Mutation> {
        let request_id = caller.scoped_request_id(request_id)?;
        Ok(Mutation {
            actor: caller.actor(),
            method,
            request_id,
            at: self.clock.now(),
            today: self.clock.today(),
            trace_context: p06_kit::trace_context::current_traceparent(),
            expected_version: None,
            entered_by: None,
        })
    }

    async fn replay(&self, m: &Mutation) -> Result<Option<String>> {
        match &m.request_id {
            Some(rid) => Ok(self.store.recall(m.method, rid).await?),
            None => Ok(None),
        }
    }
}

#[tonic::async_trait]
impl<S: TaskStore> Tasks for TasksApi<S> {
    async fn create_directive(
        &self,
        request: Request<pb::CreateDirectiveRequest>,
    ) -> Result<Response<pb::Directive>, Status> {
        Ok(Response::new(write::create_directive(self, request).await?))
    }

    async fn get_directive(
        &self,
        request: Request<pb::GetDirectiveRequest>,
    ) -> Result<Response<pb::Directive>, Status> {
        Grant::of(&request)?;
        let id = id_in("name", "directives", &request.get_ref().name)?;
        let d = self
            .store
            .get_directive(id)
            .await
            .map_err(TasksError::from)?;
        let d = d.ok_or_else(|| TasksError::NotFound(format!("directives/{id}")))?;
        Ok(Response::new(directive_to_pb(d)))
    }

    async fn list_directives(
        &self,
        request: Request<pb::ListDirectivesRequest>,
    ) -> Result<Response<pb::ListDirectivesResponse>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(
            list::directives(self, request.get_ref()).await?,
        ))
    }

    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> Result<Response<pb::CreateTaskResponse>, Status> {
        Ok(Response::new(write::create_task(self, request).await?))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        Grant::of(&request)?;
        let id = id_in("name", "tasks", &request.get_ref().name)?;
        let t = self.store.get_task(id).await.map_err(TasksError::from)?;
        Ok(Response::new(task_to_pb(t.ok_or_else(|| {
            TasksError::NotFound(format!("tasks/{id}"))
        })?)))
    }

    async fn get_assignment(
        &self,
        request: Request<pb::GetAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let caller = Grant::of(&request)?;
        let req = request.get_ref();
        let (task, unit) = assignment_key("name", &req.name)?;
        let as_of = self.as_of("as_of", &req.as_of)?;
        let not_found = || TasksError::NotFound(req.name.clone());
        caller.check_unit(&unit)?;
        let a = if req.as_of.is_empty() {
            self.store.get_assignment(&task, &unit).await
        } else {
            self.store.assignment_as_of(&task, &unit, as_of).await
        };
        let a = a.map_err(TasksError::from)?.ok_or_else(not_found)?;
        Ok(Response::new(assignment_to_pb(a, as_of)))
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            list::assignments(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        Ok(Response::new(write::report_progress(self, request).await?))
    }

    async fn complete_assignment(
        &self,
        request: Request<pb::CompleteAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        Ok(Response::new(write::complete(self, request).await?))
    }

    async fn reopen_assignment(
        &self,
        request: Request<pb::ReopenAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        Ok(Response::new(write::reopen(self, request).await?))
    }

    async fn cancel_assignment(
        &self,
        request: Request<pb::CancelAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        Ok(Response::new(write::cancel(self, request).await?))
    }

    async fn list_assignment_events(
        &self,
        request: Request<pb::ListAssignmentEventsRequest>,
    ) -> Result<Response<pb::ListAssignmentEventsResponse>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            list::events(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn request_extension(
        &self,
        request: Request<pb::RequestExtensionRequest>,
    ) -> Result<Response<pb::Extension>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            extensions::request(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn decide_extension(
        &self,
        request: Request<pb::DecideExtensionRequest>,
    ) -> Result<Response<pb::DecideExtensionResponse>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            extensions::decide(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn list_extensions(
        &self,
        request: Request<pb::ListExtensionsRequest>,
    ) -> Result<Response<pb::ListExtensionsResponse>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            extensions::list(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn apply_administrative_changes(
        &self,
        request: Request<pb::ApplyAdministrativeChangesRequest>,
    ) -> Result<Response<pb::ApplyAdministrativeChangesResponse>, Status> {
        let caller = Grant::of(&request)?;
        let date = self.as_of("date", &request.get_ref().date)?;
        let m = self.mutation(caller, "ApplyAdministrativeChanges", "")?;
        let moves = self.apply_administrative_changes(date, &m).await?;
        let moved = moves.iter().map(|m| m.assignments).sum();
        Ok(Response::new(pb::ApplyAdministrativeChangesResponse {
            moved,
            moves,
        }))
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::Calendar>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(write::calendar_year(
            &self.calendar(),
            request.get_ref().year,
        )?))
    }

    async fn update_calendar(
        &self,
        request: Request<pb::UpdateCalendarRequest>,
    ) -> Result<Response<pb::Calendar>, Status> {
        Ok(Response::new(write::update_calendar(self, request).await?))
    }

    async fn add_working_days(
        &self,
        request: Request<pb::AddWorkingDaysRequest>,
    ) -> Result<Response<pb::AddWorkingDaysResponse>, Status> {
        Grant::of(&request)?;
        let req = request.get_ref();
        let from = dates::parse("date", &req.date)?;
        let n = u32::try_from(req.working_days)
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| TasksError::invalid("working_days", "must be between 0 and 1000"))?;
        let date = self
            .calendar()
            .add_working_days(from, n)
            .ok_or_else(|| TasksError::invalid("working_days", "beyond the calendar"))?;
        Ok(Response::new(pb::AddWorkingDaysResponse {
            date: date.to_string(),
        }))
    }

    async fn get_summary(
        &self,
        request: Request<pb::GetSummaryRequest>,
    ) -> Result<Response<pb::Summary>, Status> {
        let caller = Grant::of(&request)?.clone();
        let req = request.get_ref();
        let as_of = self.as_of("as_of", &req.as_of)?;
        let scope = list::summary_scope(req)?;
        if let Some(("unit_id", unit)) = scope.as_ref() {
            caller.check_unit(unit)?;
        }
        // A unit's summary is its line of the boards (the one rule of
        // attribution); any other scope counts every assignment in it once.
        let counts = match scope.as_ref() {
            Some(("unit_id", unit)) => self.unit_counts(unit, as_of).await?,
            _ => self.total_counts(scope.as_ref(), as_of).await?,
        };
        Ok(Response::new(pb::Summary {
            as_of: as_of.to_string(),
            total: counts.total as i32,
            completed_on_time: counts.completed_on_time as i32,
            completed_late: counts.completed_late as i32,
            in_progress: counts.in_progress as i32,
            overdue: counts.overdue as i32,
            regular: counts.regular as i32,
            cancelled: counts.cancelled as i32,
            backlog: counts.backlog as i32,
            completion_rate: counts.completion_rate(),
            on_time_rate: counts.on_time_rate(),
            headline: counts.headline(),
        }))
    }

    async fn get_scoreboard(
        &self,
        request: Request<pb::GetScoreboardRequest>,
    ) -> Result<Response<pb::Scoreboard>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(
            scoreboard::get(self, request.get_ref()).await?,
        ))
    }

    async fn create_indicator(
        &self,
        request: Request<pb::CreateIndicatorRequest>,
    ) -> Result<Response<pb::Indicator>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            indicators::create(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn list_indicators(
        &self,
        request: Request<pb::ListIndicatorsRequest>,
    ) -> Result<Response<pb::ListIndicatorsResponse>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(indicators::list(self).await?))
    }

    async fn record_indicator_value(
        &self,
        request: Request<pb::RecordIndicatorValueRequest>,
    ) -> Result<Response<pb::IndicatorValue>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(
            indicators::record(self, &caller, request.get_ref()).await?,
        ))
    }

    async fn get_indicator_progress(
        &self,
        request: Request<pb::GetIndicatorProgressRequest>,
    ) -> Result<Response<pb::IndicatorProgress>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(
            indicators::progress(self, request.get_ref()).await?,
        ))
    }

    async fn list_audit_log(
        &self,
        request: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        Grant::of(&request)?;
        Ok(Response::new(list::audit(self, request.get_ref()).await?))
    }

    type WatchChangesStream = feed::ChangeStream;

    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let caller = Grant::of(&request)?.clone();
        Ok(Response::new(feed::watch(
            self,
            caller,
            request.get_ref().after_sequence,
        )?))
    }
}
