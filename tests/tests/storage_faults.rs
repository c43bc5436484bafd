//! Storage faults heal by themselves. While the disk refuses writes, a
//! write through the gateway answers UNAVAILABLE (`DATABASE_UNAVAILABLE`,
//! retryable) and writes nothing; once the disk takes writes again, the
//! same requests succeed with no restart. It used to take a restart: the
//! I/O error at COMMIT made SQLite roll back by itself, sqlx's own ROLLBACK
//! then failed, and the pooled connection, still counted inside a
//! transaction, refused every later write ("attempted to call begin_with at
//! non-zero transaction depth").
//!
//! On Postgres (with `P06_TEST_DATABASE_URL`): the tasks database's backends
//! are terminated while a write waits inside its transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p06_proto::{gateway::v1::Role, tasks::v1 as pb};
use p06_tests::{Backend, TestStack};
use rustix::process::{Resource, Rlimit, Signal, getrlimit, setrlimit};
use std::time::Duration;
use tonic_types::StatusExt as _;

type Tasks = pb::tasks_client::TasksClient<p06::client::GatewayChannel>;

/// The tests here change process-wide state (the file-size limit): one at a
/// time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The disk refusing every write of this process, as a full disk or a spent
/// quota does, on the files SQLite already has open: the file-size limit
/// (`RLIMIT_FSIZE`) at 0, so each write(2) to a file fails with EFBIG and
/// SQLite answers "disk I/O error" (SQLITE_IOERR_WRITE). Every service's
/// SQLite file is hit, as on the one data disk of `p06 up`. Needs no
/// privilege (root is refused too) and works on any file system. Lifted
/// when dropped.
struct FullDisk {
    saved: Rlimit,
    _xfsz: tokio::signal::unix::Signal,
}

impl FullDisk {
    fn start() -> FullDisk {
        // Going over the limit also raises SIGXFSZ, which would end the
        // process: catch it, so the write just fails.
        let xfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
            Signal::XFSZ.as_raw(),
        ))
        .expect("SIGXFSZ handler");
        let saved = getrlimit(Resource::Fsize);
        setrlimit(
            Resource::Fsize,
            Rlimit {
                current: Some(0),
                maximum: saved.maximum,
            },
        )
        .expect("lower the file-size limit");
        FullDisk { saved, _xfsz: xfsz }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        // No panic here: this may run while a failed assertion unwinds.
        if let Err(e) = setrlimit(Resource::Fsize, self.saved) {
            eprintln!("cannot restore the file-size limit: {e}");
        }
    }
}

fn create(n: usize) -> pb::CreateDirectiveRequest {
    pb::CreateDirectiveRequest {
        directive: Some(pb::Directive {
            number: format!("{n}/TB-VPCP"),
            r#type: pb::DirectiveType::Notice as i32,
            issuer: "units/m-government-office".into(),
            issue_date: "2024-07-02".into(),
            title: "Kết luận của Thủ tướng tại cuộc họp Tổ công tác Đề án 06".into(),
            ..Default::default()
        }),
        request_id: format!("storage-fault-{n}"),
    }
}

/// Asserts `e` is the tasks database's retryable UNAVAILABLE, with a hint
/// of when to retry.
fn assert_storage_unavailable(e: &tonic::Status) {
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(
        e.get_error_details()
            .retry_info()
            .is_some_and(|r| r.retry_delay.is_some()),
        "no retry hint: {e:?}"
    );
    let info = e.get_error_details().error_info().cloned();
    assert_eq!(
        info.as_ref().map(|i| i.reason.as_str()),
        Some("DATABASE_UNAVAILABLE"),
        "{e:?}"
    );
    assert_eq!(
        info.and_then(|i| i.metadata.get("service").cloned())
            .as_deref(),
        Some("tasks"),
        "{e:?}"
    );
}

async fn directives(tasks: &mut Tasks) -> usize {
    tasks
        .list_directives(pb::ListDirectivesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .directives
        .len()
}

/// More writes than the tasks pool has connections, so every connection a
/// fault touched is used again.
const WRITES: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_by_themselves_after_a_disk_fault() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = TestStack::start().await;
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    tasks
        .create_directive(create(0))
        .await
        .expect("writes before");

    let disk = FullDisk::start();
    for n in 1..=WRITES {
        let refused = tasks.create_directive(create(n)).await.unwrap_err();
        assert_storage_unavailable(&refused);
    }
    drop(disk);

    assert_eq!(directives(&mut tasks).await, 1, "nothing was half-written");
    for n in 1..=WRITES {
        tasks
            .create_directive(create(n))
            .await
            .unwrap_or_else(|e| panic!("retry {n} after the fault cleared: {e:?}"));
    }
    for n in WRITES + 1..=2 * WRITES {
        tasks
            .create_directive(create(n))
            .await
            .unwrap_or_else(|e| panic!("write {n} after the fault cleared: {e:?}"));
    }
    assert_eq!(directives(&mut tasks).await, 2 * WRITES + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_after_postgres_ends_the_connections_mid_transaction() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(stack) = TestStack::start_on(Backend::Postgres).await else {
        eprintln!("P06_TEST_DATABASE_URL unset: skipped");
        return;
    };
    let coordinator = stack.key_for("units/wg06", Role::Coordinator).await;
    let mut tasks = stack.tasks(&coordinator).await;
    tasks
        .create_directive(create(0))
        .await
        .expect("writes before");

    // Hold a lock the next write needs, so it waits inside its transaction.
    let db = sqlx::PgPool::connect(&stack.databases().tasks)
        .await
        .unwrap();
    let mut holder = db.begin().await.unwrap();
    sqlx::query("LOCK TABLE directives IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let mut waiting_client = tasks.clone();
    let waiting = tokio::spawn(async move { waiting_client.create_directive(create(1)).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *holder)
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the write never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every connection of the service's pool, the waiting one included.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut *holder)
    .await
    .unwrap();
    let refused = waiting.await.unwrap().unwrap_err();
    assert_storage_unavailable(&refused);
    holder.rollback().await.unwrap();
    db.close().await;

    for n in 1..=WRITES {
        tasks
            .create_directive(create(n))
            .await
            .unwrap_or_else(|e| panic!("write {n} after the connections ended: {e:?}"));
    }
    assert_eq!(directives(&mut tasks).await, WRITES + 1);
}
